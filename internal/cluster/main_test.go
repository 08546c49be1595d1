package cluster_test

import (
	"os"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// TestMain: The cluster tests measure replication latency: not beside the other heavy packages (see
// testnet.Exclusive).
func TestMain(m *testing.M) {
	release := testnet.Exclusive()
	code := m.Run()
	release()
	os.Exit(code)
}
