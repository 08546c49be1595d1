// Package exampletest runs the examples/ the way their READMEs tell a user
// to, for their tests: it builds barkeep and the example backend, copies an
// example's files with its fixed ports replaced by free loopback ones, and
// starts processes that are killed when the test ends.
package exampletest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Build compiles the main package at pkg (a path relative to the test's
// directory, such as "../../cmd/barkeep") and returns the binary.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// FreePort returns a loopback port nothing listens on right now.
func FreePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// Copy copies the example's files (names relative to the test's
// directory) into dir, replacing each old string of replace with its new
// one, and returns the copies' paths.
func Copy(tb testing.TB, dir string, replace map[string]string, names ...string) []string {
	tb.Helper()
	var pairs []string
	for o, n := range replace {
		pairs = append(pairs, o, n)
	}
	r := strings.NewReplacer(pairs...)
	var out []string
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.Base(name))
		if err := os.WriteFile(dst, []byte(r.Replace(string(b))), 0o644); err != nil {
			tb.Fatal(err)
		}
		out = append(out, dst)
	}
	return out
}

// Proc is a started process; its output is kept and shown when the test
// fails.
type Proc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output is what the process wrote so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Start runs bin with args in dir (with env added to the environment) and
// kills it when the test ends.
func Start(tb testing.TB, dir string, env []string, bin string, args ...string) *Proc {
	tb.Helper()
	p := &Proc{cmd: exec.Command(bin, args...)}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if tb.Failed() {
			tb.Logf("%s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), p.Output())
		}
	})
	return p
}

// Stop ends the process.
func (p *Proc) Stop() { p.cmd.Process.Kill() }

// Eventually calls check every 50 ms until it returns nil, for up to
// limit; then the test fails with check's last error.
func Eventually(tb testing.TB, limit time.Duration, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %v", limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Get fetches url with c and returns the status and body.
func Get(c *http.Client, url string) (int, string, error) {
	res, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return res.StatusCode, b.String(), nil
}

// Listening reports whether something accepts connections on addr.
func Listening(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return fmt.Errorf("nothing listens on %s: %w", addr, err)
	}
	c.Close()
	return nil
}
