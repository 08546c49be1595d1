package testnet

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Exclusive takes a machine-wide lock, an flock(2) on
// $TMPDIR/barkeep-test-exclusive.lock, and returns its release. Test
// binaries that load the machine (load loops, JVMs, clusters of balancers)
// or that measure latency take it in TestMain around m.Run, so that
// `go test ./...`, which runs packages side by side, does not run two of
// them at once. A process started by the holder (a test binary re-run in a
// network namespace, say) inherits $BARKEEP_TEST_EXCLUSIVE and does not
// wait for its parent's lock. Without the lock file (an unwritable TMPDIR)
// it returns a no-op release.
func Exclusive() (release func()) {
	if os.Getenv(exclusiveEnv) != "" {
		return func() {}
	}
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "barkeep-test-exclusive.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return func() {}
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return func() {}
	}
	os.Setenv(exclusiveEnv, "held")
	return func() {
		os.Unsetenv(exclusiveEnv)
		f.Close() // closing the file releases the lock
	}
}

// exclusiveEnv marks the holder of Exclusive's lock and its children.
const exclusiveEnv = "BARKEEP_TEST_EXCLUSIVE"

// RunExclusive runs m's tests holding Exclusive's lock and returns the
// exit code, for a TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testnet.RunExclusive(m)) }
func RunExclusive(m *testing.M) int {
	release := Exclusive()
	defer release()
	return m.Run()
}
