package hafailover

import (
	"os"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// TestMain: the example's client checks that no request fails while a
// backend hangs, which depends on timeouts: not beside the other heavy
// packages (see testnet.Exclusive).
func TestMain(m *testing.M) { os.Exit(testnet.RunExclusive(m)) }
