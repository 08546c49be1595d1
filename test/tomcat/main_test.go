package tomcat

import (
	"os"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// TestMain: The tests start a JVM (Tomcat): not beside the other heavy packages (see
// testnet.Exclusive).
func TestMain(m *testing.M) {
	release := testnet.Exclusive()
	code := m.Run()
	release()
	os.Exit(code)
}
