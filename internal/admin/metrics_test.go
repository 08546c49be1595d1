package admin_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/barkeep-lb/barkeep/internal/admin"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// scrape fetches /metrics and parses it with Prometheus's text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// metric returns the family's metric whose labels include want, or nil.
func metric(f *dto.MetricFamily, want map[string]string) *dto.Metric {
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

func TestMetricsParseAndFollowTheCounters(t *testing.T) {
	store, _, _ := setup(t)
	var mc admin.MessageCounts
	srv := httptest.NewServer(admin.New(store, admin.Options{Now: func() time.Time { return now }, Version: "1.2.3", MCMP: &mc}))
	t.Cleanup(srv.Close)
	b := store.Load().Balancer("barcrawl")
	elm := b.ByRoute("elm").Stats
	elm.Elected.Add(5)
	elm.Errors.Add(3)
	elm.ErrorsByClass.Add(registry.ErrorConnect)
	elm.ErrorsByClass.Add(registry.ErrorTimeout)
	elm.Responses.Add(200)
	elm.Responses.Add(503)
	elm.Latency.Observe(3 * time.Millisecond)
	elm.Latency.Observe(2 * time.Second)
	elm.CheckedAt.Store(now.UnixNano())
	elm.CheckFailed.Store(true)
	b.Stats.StickyHits.Add(4)
	elm.StickyHits.Add(3)
	b.Stats.Unavailable.Add(2)
	mc.Add("STATUS", "ok")
	mc.Add("CONFIG", "syntax")

	fams := scrape(t, srv.URL)
	for _, name := range []string{
		"barkeep_member_requests_total", "barkeep_member_errors_total", "barkeep_member_in_flight", "barkeep_member_read_bytes_total",
		"barkeep_member_transferred_bytes_total", "barkeep_member_response_seconds", "barkeep_member_responses_total",
		"barkeep_member_state", "barkeep_member_loadfactor", "barkeep_member_usable", "barkeep_balancer_sticky_hits_total",
		"barkeep_balancer_sticky_misses_total", "barkeep_balancer_failovers_total", "barkeep_balancer_unavailable_total",
		"barkeep_balancer_queued_total", "barkeep_mcmp_messages_total", "barkeep_build_info", "process_cpu_seconds_total", "go_goroutines",
	} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	elmL := map[string]string{"balancer": "barcrawl", "route": "elm", "member": "http://127.0.0.1:9001"}
	if m := metric(fams["barkeep_member_requests_total"], elmL); m.GetCounter().GetValue() != 5 {
		t.Errorf("requests %v, want 5", m)
	}
	for class, want := range map[string]float64{"connect": 1, "timeout": 1, "reset": 0, "unclassified": 1} {
		l := map[string]string{"route": "elm", "class": class}
		if m := metric(fams["barkeep_member_errors_total"], l); m == nil || m.GetCounter().GetValue() != want {
			t.Errorf("errors{class=%s} = %v, want %v", class, m, want)
		}
	}
	h := metric(fams["barkeep_member_response_seconds"], elmL).GetHistogram()
	if h.GetSampleCount() != 2 || h.Bucket[0].GetCumulativeCount() != 1 || h.Bucket[len(h.Bucket)-1].GetCumulativeCount() != 2 {
		t.Errorf("histogram %v", h)
	}
	if m := metric(fams["barkeep_member_responses_total"], map[string]string{"route": "elm", "code": "5xx"}); m.GetCounter().GetValue() != 1 {
		t.Errorf("5xx responses %v", m)
	}
	if m := metric(fams["barkeep_member_check_up"], elmL); m == nil || m.GetGauge().GetValue() != 0 {
		t.Errorf("check_up %v, want 0", m)
	}
	if m := metric(fams["barkeep_member_state"], map[string]string{"route": "oak", "state": "ok"}); m.GetGauge().GetValue() != 1 {
		t.Errorf("oak state ok %v", m)
	}
	if m := metric(fams["barkeep_member_sticky_hits_total"], elmL); m.GetCounter().GetValue() != 3 {
		t.Errorf("elm's sticky hits %v, want 3", m)
	}
	if m := metric(fams["barkeep_balancer_sticky_hits_total"], map[string]string{"balancer": "barcrawl"}); m.GetCounter().GetValue() != 4 {
		t.Errorf("sticky hits %v", m)
	}
	if m := metric(fams["barkeep_mcmp_messages_total"], map[string]string{"type": "CONFIG", "result": "syntax"}); m.GetCounter().GetValue() != 1 {
		t.Errorf("mcmp CONFIG syntax %v", m)
	}
	if m := metric(fams["barkeep_build_info"], map[string]string{"version": "1.2.3"}); m == nil {
		t.Error("no build_info with the version")
	}

	// The counters move: a second scrape sees what happened between.
	elm.Elected.Add(10)
	fams = scrape(t, srv.URL)
	if m := metric(fams["barkeep_member_requests_total"], elmL); m.GetCounter().GetValue() != 15 {
		t.Errorf("requests after 10 more: %v, want 15", m)
	}
}

func TestMessageCountsWrap(t *testing.T) {
	var mc admin.MessageCounts
	h := mc.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/syntax":
			w.Header().Set("Type", "SYNTAX")
			w.WriteHeader(500)
		case "/refused":
			w.WriteHeader(403)
		}
	}), func(m string) bool { return m == "CONFIG" || m == "STATUS" })
	for _, p := range []string{"/", "/syntax", "/refused", "/"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("CONFIG", p, nil))
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	srv := httptest.NewServer(admin.New(registry.NewStore(), admin.Options{MCMP: &mc}))
	t.Cleanup(srv.Close)
	fams := scrape(t, srv.URL)
	f := fams["barkeep_mcmp_messages_total"]
	var got []string
	for _, m := range f.GetMetric() {
		got = append(got, m.String())
	}
	for _, want := range []map[string]string{{"result": "ok"}, {"result": "syntax"}, {"result": "refused"}} {
		if metric(f, want) == nil {
			t.Errorf("no %v in %v", want, got)
		}
	}
	if m := metric(f, map[string]string{"result": "ok"}); m.GetCounter().GetValue() != 2 {
		t.Errorf("ok = %v, want 2 (GET not counted)", m)
	}
}

// TestMetricsNodesAndGauges: an MCMP node's reported load, its contexts by
// state and its presence; the balancer counters and the member gauges
// (in-flight, bytes, loadfactor, time in state) as the registry holds them.
func TestMetricsNodesAndGauges(t *testing.T) {
	store, _, _ := setup(t)
	addCluster(t, store)
	srv := httptest.NewServer(admin.New(store, admin.Options{Now: func() time.Time { return now }}))
	t.Cleanup(srv.Close)
	_, err := store.Update(func(d *registry.Draft) error {
		return d.EditMember("barcrawl", "http://127.0.0.1:9002", func(m *registry.Member) error {
			m.LoadFactor, m.Status, m.StatusSince = 7, registry.StatusDrain, now.Add(-time.Minute)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	b := store.Load().Balancer("barcrawl")
	b.Stats.Failovers.Add(3)
	b.Stats.Queued.Add(2)
	b.Stats.StickyMisses.Add(5)
	oak := b.ByRoute("oak").Stats
	oak.Busy.Store(4)
	oak.Read.Store(1000)
	oak.Transferred.Store(300)

	fams := scrape(t, srv.URL)
	node := map[string]string{"balancer": "mycluster", "node": "node1"}
	for _, tt := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"barkeep_member_load", map[string]string{"balancer": "mycluster", "route": "node1"}, 40},
		{"barkeep_node_up", node, 1},
		{"barkeep_node_contexts", map[string]string{"node": "node1", "state": "ENABLED"}, 1},
		{"barkeep_node_contexts", map[string]string{"node": "node1", "state": "DISABLED"}, 1},
		{"barkeep_node_contexts", map[string]string{"node": "node1", "state": "STOPPED"}, 0},
		{"barkeep_balancer_failovers_total", map[string]string{"balancer": "barcrawl"}, 3},
		{"barkeep_balancer_queued_total", map[string]string{"balancer": "barcrawl"}, 2},
		{"barkeep_balancer_sticky_misses_total", map[string]string{"balancer": "barcrawl"}, 5},
		{"barkeep_balancer_members", map[string]string{"balancer": "barcrawl"}, 3},
		{"barkeep_member_in_flight", map[string]string{"route": "oak"}, 4},
		{"barkeep_member_read_bytes_total", map[string]string{"route": "oak"}, 1000},
		{"barkeep_member_transferred_bytes_total", map[string]string{"route": "oak"}, 300},
		{"barkeep_member_loadfactor", map[string]string{"route": "oak"}, 7},
		{"barkeep_member_state", map[string]string{"route": "oak", "state": "draining"}, 1},
		{"barkeep_member_state", map[string]string{"route": "oak", "state": "ok"}, 0},
		{"barkeep_member_status_since_seconds", map[string]string{"route": "oak"}, float64(now.Add(-time.Minute).Unix())},
	} {
		m := metric(fams[tt.family], tt.labels)
		var got float64
		switch {
		case m == nil:
			t.Errorf("no %s%v", tt.family, tt.labels)
			continue
		case m.Counter != nil:
			got = m.GetCounter().GetValue()
		default:
			got = m.GetGauge().GetValue()
		}
		if got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.family, tt.labels, got, tt.want)
		}
	}
	// Configured members report no load.
	if m := metric(fams["barkeep_member_load"], map[string]string{"balancer": "barcrawl"}); m != nil {
		t.Errorf("a configured member has a load gauge: %v", m)
	}
}
