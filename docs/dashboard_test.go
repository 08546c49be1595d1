package docs

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestGrafanaDashboardUsesDocumentedMetrics: the example dashboard is JSON
// and every barkeep metric its queries use is documented in metrics.md.
func TestGrafanaDashboardUsesDocumentedMetrics(t *testing.T) {
	raw, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	doc, err := os.ReadFile("metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`barkeep_[a-z_]+`)
	n := 0
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			for _, m := range name.FindAllString(q.Expr, -1) {
				n++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				if !strings.Contains(string(doc), "`"+base+"`") && !strings.Contains(string(doc), "`"+base+"{") {
					t.Errorf("panel %q uses %s, which metrics.md does not document", p.Title, m)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d metric uses in the dashboard", n)
	}
}
