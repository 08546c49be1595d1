package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// counted are counters of /metrics summed over members.
type counted struct {
	requests, read, ok2xx, timed float64
}

// scrapeCounted scrapes /metrics and sums requests, bytes read, 2xx
// responses and response times observed over members.
func scrapeCounted(t *testing.T, adminURL string) (c counted) {
	t.Helper()
	res, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, m := range fams["barkeep_member_requests_total"].GetMetric() {
		c.requests += m.GetCounter().GetValue()
	}
	for _, m := range fams["barkeep_member_read_bytes_total"].GetMetric() {
		c.read += m.GetCounter().GetValue()
	}
	for _, m := range fams["barkeep_member_responses_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "code" && l.GetValue() == "2xx" {
				c.ok2xx += m.GetCounter().GetValue()
			}
		}
	}
	for _, m := range fams["barkeep_member_response_seconds"].GetMetric() {
		c.timed += float64(m.GetHistogram().GetSampleCount())
	}
	return c
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	var urls []string
	for range 2 {
		b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "0123456789") }))
		t.Cleanup(b.Close)
		urls = append(urls, b.URL)
	}
	front, adminURL := startServe(t, fmt.Sprintf(serveConfig, memberYAML(urls...)))
	c0 := scrapeCounted(t, adminURL)
	for range 20 {
		res, err := http.Get(front + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	c1 := scrapeCounted(t, adminURL)
	if c1.requests-c0.requests != 20 || c1.read-c0.read < 200 || c1.ok2xx-c0.ok2xx != 20 || c1.timed-c0.timed != 20 {
		t.Fatalf("after 20 requests: requests moved by %v (want 20), bytes read by %v (want >= 200), 2xx responses by %v and response times by %v (want 20)",
			c1.requests-c0.requests, c1.read-c0.read, c1.ok2xx-c0.ok2xx, c1.timed-c0.timed)
	}
}
