package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFormatVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "9b514f2c1d0e4a5b6c7d8e9f0a1b2c3d4e5f6a7b"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got, want := formatVersion(bi, "linux/amd64"), "barkeep v1.4.0 (commit 9b514f2c1d0e, modified; go1.26.1 linux/amd64)"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	bi = &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}}
	if got, want := formatVersion(bi, "linux/arm64"), "barkeep dev (commit unknown; go1.26.1 linux/arm64)"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// versionRE is the line both forms print.
var versionRE = regexp.MustCompile(`^barkeep (\S+) \(commit ([0-9a-f]{12}|unknown)(, modified)?; (go\S+) \S+/\S+\)\n$`)

func TestVersionFlagAndCommand(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), args, &stdout, &stderr)
		if code != 0 || !versionRE.MatchString(stdout.String()) {
			t.Errorf("barkeep %v: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
}

// TestBuiltBinaryNamesItsCommit checks the version of a binary built in
// this checkout with plain "go build": it carries the checkout's commit.
func TestBuiltBinaryNamesItsCommit(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout (%v): go build stamps no commit", err)
	}
	top, _ := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !fi.IsDir() {
		t.Skip("a git worktree (.git is a file): go build stamps no commit there")
	}
	// GOFLAGS may say -buildvcs=false (it does on the CI machine); a release
	// build stamps the commit.
	bin := filepath.Join(t.TempDir(), "barkeep")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := versionRE.FindStringSubmatch(string(out))
	if m == nil || !strings.HasPrefix(string(head), m[2]) {
		t.Errorf("barkeep --version = %q, want commit %.12s", out, head)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{}, {"no-such-command"}, {"--no-such-flag"}, {"serve", "--no-such-flag"}, {"serve", "extra-arg", "--config", "x"},
		{"check-config"}, {"version", "extra"}, {"demo", "--log-format", "xml"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, &stdout, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("barkeep %q: exit %d with stderr %q, want 2 and a message", args, code, stderr.String())
		}
	}
}

// TestSIGUSR1ReopensAccessLog rotates the access log the way logrotate's
// "create" mode does (rename, then SIGUSR1) and checks the next lines go
// to a new file at the configured path while the renamed one keeps the old.
func TestSIGUSR1ReopensAccessLog(t *testing.T) {
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	backend := startEcho(t, "a")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	file := filepath.Join(dir, "barkeep.yaml")
	cfg := strings.Replace(serveConfig, "access_log: {path: off}", "access_log: {path: "+logPath+"}", 1)
	if err := os.WriteFile(file, []byte(strings.Replace(cfg, "%s", memberYAML(backend), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", file, "--log-format", "json")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	front := "http://" + waitForMatch(t, &stderr, regexp.MustCompile(`"msg":"barkeep started","listen":"([^"]+)"`))[1]

	getOK(t, front+"/before-rotation")
	waitForFile(t, logPath, "/before-rotation")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGUSR1)
	waitForMatch(t, &stderr, regexp.MustCompile(`"msg":"access log reopened"`))
	getOK(t, front+"/after-rotation")
	waitForFile(t, logPath, "/after-rotation")
	old, _ := os.ReadFile(logPath + ".1")
	now, _ := os.ReadFile(logPath)
	if strings.Contains(string(old), "/after-rotation") || strings.Contains(string(now), "/before-rotation") {
		t.Errorf("lines in the wrong file:\nrotated: %s\nnew: %s", old, now)
	}
}

// waitForFile polls path until it holds want (the access log is flushed
// every second), for up to 10 s.
func waitForFile(t *testing.T, path, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(want)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not hold %q after 10s:\n%s", path, want, b)
		}
	}
}

// startEcho starts a loopback backend that answers every request with name.
func startEcho(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

func getOK(t *testing.T, u string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s = %d", u, res.StatusCode)
	}
}

func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "ok\n")
	}))
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "draining", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tt := range []struct {
		url  string
		want int
	}{{ok.URL + "/healthz", 0}, {down.URL + "/healthz", 1}, {closed.URL + "/healthz", 1}, {"::bad", 2}} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), []string{"healthcheck", "--url", tt.url}, &stdout, &stderr); code != tt.want {
			t.Errorf("healthcheck --url %s: exit %d, want %d (stderr %q)", tt.url, code, tt.want, stderr.String())
		}
	}
}
