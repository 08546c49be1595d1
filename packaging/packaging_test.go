// Package packaging holds no code: its tests check the deployment files
// beside them (the systemd unit, the logrotate example, the container
// image's Dockerfile and default configuration) the way the tools that
// read them would, as far as this machine has those tools.
package packaging

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// build compiles cmd/barkeep the way the Dockerfile does (static, with
// the version and commit set by -ldflags) into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "barkeep")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X main.version=v9.9.9 -X main.commit=0123456789abcdef0123",
		"-o", bin, "../cmd/barkeep")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// unit is a parsed systemd unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("%s:%d: %q outside a section", path, i+1, line)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s:%d: %q is not key=value", path, i+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Errorf("[%s] %s: %q, want exactly one value", section, key, v)
		return ""
	}
	return v[0]
}

func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, "barkeep.service")
	if typ := u.one(t, "Service", "Type"); typ != "exec" && typ != "notify" {
		t.Errorf("Type=%s, want exec or notify", typ)
	}
	want := map[string]string{
		"ExecStart":             "/usr/bin/barkeep serve --config /etc/barkeep/barkeep.yaml",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"AmbientCapabilities":   "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"KillSignal":            "SIGTERM",
		"User":                  "barkeep",
	}
	for k, v := range want {
		if got := u.one(t, "Service", k); got != v {
			t.Errorf("%s=%s, want %s", k, got, v)
		}
	}
	if r := u["Service"]["ExecReload"]; !slices.Contains(r, "/bin/kill -HUP $MAINPID") {
		t.Errorf("ExecReload=%q: reload must send SIGHUP to the main process", r)
	}
	// The stop timeout must leave room for the default 30s drain.
	if got := u.one(t, "Service", "TimeoutStopSec"); got != "45s" {
		t.Errorf("TimeoutStopSec=%s, want 45s (above server.shutdown_timeout's default 30s)", got)
	}
	if got := u.one(t, "Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("WantedBy=%s", got)
	}
	sysusers, _ := os.ReadFile("barkeep.sysusers")
	if !regexp.MustCompile(`(?m)^u barkeep `).Match(sysusers) {
		t.Errorf("barkeep.sysusers does not create the user the unit runs as")
	}
}

// TestSystemdAnalyzeVerify runs systemd's own checker on the unit, with
// /usr/bin/barkeep replaced by a freshly built binary (verify insists the
// executables exist). Any complaint fails the test: verify exits 0 on
// unknown keys and bad values and only prints them.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed; TestSystemdUnit parsed the unit")
	}
	bin := build(t)
	text, err := os.ReadFile("barkeep.service")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "barkeep.service")
	os.WriteFile(path, bytes.ReplaceAll(text, []byte("/usr/bin/barkeep"), []byte(bin)), 0o644)
	out, err := exec.Command(sa, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The file the unit checks before it starts and reloads is what the
	// image ships; it must pass too.
	if out, err := exec.Command(bin, "check-config", "barkeep.yaml").CombinedOutput(); err != nil {
		t.Errorf("check-config barkeep.yaml: %v\n%s", err, out)
	}
}

func TestLogrotate(t *testing.T) {
	b, err := os.ReadFile("barkeep.logrotate")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{"/var/log/barkeep/access.log {", "\tcreate ", "\tpostrotate\n", "--signal=SIGUSR1", "\tendscript\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("barkeep.logrotate lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^\s*copytruncate`).MatchString(text) {
		t.Error("copytruncate loses lines; barkeep reopens on SIGUSR1")
	}
	if lr, err := exec.LookPath("logrotate"); err == nil {
		dir := t.TempDir()
		conf := strings.ReplaceAll(text, "/var/log/barkeep", dir)
		conf = strings.ReplaceAll(conf, "create 0640 barkeep barkeep", "create 0640")
		os.WriteFile(filepath.Join(dir, "conf"), []byte(conf), 0o644)
		os.WriteFile(filepath.Join(dir, "access.log"), []byte("x\n"), 0o644)
		if out, err := exec.Command(lr, "-d", "-s", filepath.Join(dir, "state"), filepath.Join(dir, "conf")).CombinedOutput(); err != nil || bytes.Contains(out, []byte("error")) {
			t.Errorf("logrotate -d: %v\n%s", err, out)
		}
	}
}

// instruction is one Dockerfile instruction with its arguments, line
// continuations joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur *instruction
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur == nil && (line == "" || line[0] == '#') {
			continue
		}
		cont := strings.HasSuffix(line, "\\")
		line = strings.TrimSuffix(line, "\\")
		if cur == nil {
			cmd, args, _ := strings.Cut(line, " ")
			cur = &instruction{line: n, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		} else if !strings.HasPrefix(line, "#") {
			cur.args += " " + strings.TrimSpace(line)
		}
		if !cont {
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: continuation at end of file", path, cur.line)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "../Dockerfile")
	known := []string{"FROM", "WORKDIR", "COPY", "RUN", "ARG", "ENV", "USER", "EXPOSE", "HEALTHCHECK", "STOPSIGNAL", "ENTRYPOINT", "CMD", "LABEL", "VOLUME"}
	var froms []instruction
	var last []instruction // the final stage
	for _, in := range ins {
		if !slices.Contains(known, in.cmd) {
			t.Errorf("Dockerfile:%d: unknown instruction %s", in.line, in.cmd)
		}
		if in.cmd == "FROM" {
			froms = append(froms, in)
			last = nil
		}
		last = append(last, in)
		if in.cmd == "COPY" && !strings.Contains(in.args, "--from=") {
			fields := strings.Fields(in.args)
			for _, src := range fields[:len(fields)-1] {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil && !strings.HasPrefix(src, "--") {
					t.Errorf("Dockerfile:%d: COPY source %s: %v", in.line, src, err)
				}
			}
		}
	}
	if len(froms) < 2 || !strings.HasSuffix(froms[0].args, " AS build") {
		t.Fatalf("want a multi-stage build starting with a stage named build, got %v", froms)
	}
	goMod, _ := os.ReadFile("../go.mod")
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goVer == nil || !strings.HasPrefix(froms[0].args, "golang:"+string(goVer[1])+"-") {
		t.Errorf("build stage %q does not use go.mod's Go %s", froms[0].args, goVer)
	}
	var user, health, cmd, entry string
	for _, in := range last {
		switch in.cmd {
		case "USER":
			user = in.args
		case "HEALTHCHECK":
			health = in.args
		case "CMD":
			cmd = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "RUN":
			t.Errorf("Dockerfile:%d: the final stage is FROM scratch: nothing to RUN", in.line)
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("final stage runs as %q, want a non-root user", user)
	}
	if !strings.Contains(health, `"healthcheck"`) || !strings.Contains(health, "/healthz") {
		t.Errorf("HEALTHCHECK %q does not ask /healthz", health)
	}
	if entry != `["/usr/bin/barkeep"]` || !strings.Contains(cmd, `"/etc/barkeep/barkeep.yaml"`) {
		t.Errorf("ENTRYPOINT %s CMD %s: want barkeep serving /etc/barkeep/barkeep.yaml", entry, cmd)
	}
	var buildRun string
	for _, in := range ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			buildRun = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", "./cmd/barkeep"} {
		if !strings.Contains(buildRun, want) {
			t.Errorf("the build step lacks %q: %s", want, buildRun)
		}
	}
}

// TestStaticBinary builds as the Dockerfile does and checks what the
// image relies on: no dynamic loader (it runs on scratch), the version and
// commit from -ldflags, and the healthcheck command.
func TestStaticBinary(t *testing.T) {
	bin := build(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary needs a dynamic loader; FROM scratch cannot run it")
		}
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "barkeep v9.9.9 (commit 0123456789ab;") {
		t.Errorf("--version = %q, %v", out, err)
	}
	if out, err := exec.Command(bin, "healthcheck", "--help").CombinedOutput(); err != nil {
		t.Errorf("healthcheck --help: %v\n%s", err, out)
	}
}
