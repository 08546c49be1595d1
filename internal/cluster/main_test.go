package cluster_test

import (
	"os"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// TestMain runs the tests under testnet.Exclusive, not beside the other
// heavy packages: they measure replication latency.
func TestMain(m *testing.M) { os.Exit(testnet.RunExclusive(m)) }
