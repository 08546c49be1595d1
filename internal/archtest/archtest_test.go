// Package archtest keeps the import graph the shape DESIGN.md §2 draws:
// registry at the bottom, pure deciders on it, proxy on those, writers from
// outside never importing proxy or each other.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/barkeep-lb/barkeep/"

// allowed lists, per package, the module packages it may import. A package
// missing from the table may import nothing of the module, except cmd/,
// which may import anything.
var allowed = map[string][]string{
	"mcmp":                     {},
	"ajp":                      {},
	"agent":                    {"mcmp"},
	"internal/registry":        {},
	"internal/balancer":        {"internal/registry"},
	"internal/session":         {"internal/registry"},
	"internal/health":          {"internal/registry", "ajp"},
	"internal/proxy":           {"internal/registry", "internal/balancer", "internal/session", "internal/health", "ajp", "mcmp"},
	"internal/proxy/proxytest": {"internal/proxy", "internal/testcert"},
	"internal/mcmpserver":      {"mcmp", "internal/registry"},
	"internal/cluster":         {"internal/registry"},
	"internal/admin":           {"internal/registry", "internal/health", "internal/cluster"},
	"internal/config":          {},
	"internal/convert":         {},
	"internal/archtest":        {},
}

func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		pkg := strings.TrimPrefix(p.ImportPath, mod)
		if strings.HasPrefix(pkg, "cmd/") {
			continue
		}
		for _, imp := range p.Imports {
			dep, ok := strings.CutPrefix(imp, mod)
			if !ok {
				continue
			}
			if pkg == "internal/demo" {
				if strings.HasPrefix(dep, "cmd/") {
					t.Errorf("internal/demo imports %s; it may import anything but cmd", dep)
				}
				continue
			}
			if !slices.Contains(allowed[pkg], dep) {
				t.Errorf("%s imports %s; allowed: %v (DESIGN.md §2)", pkg, dep, allowed[pkg])
			}
		}
	}
	if seen < 5 {
		t.Fatalf("go list saw %d packages; is the module path right?", seen)
	}
}
