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

// requestsCounted scrapes /metrics (it must parse with Prometheus's text
// parser) and returns barkeep_member_requests_total and
// barkeep_member_read_bytes_total summed over members.
func requestsCounted(t *testing.T, adminURL string) (requests, read float64) {
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
		requests += m.GetCounter().GetValue()
	}
	for _, m := range fams["barkeep_member_read_bytes_total"].GetMetric() {
		read += m.GetCounter().GetValue()
	}
	return requests, read
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	var urls []string
	for range 2 {
		b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "0123456789") }))
		t.Cleanup(b.Close)
		urls = append(urls, b.URL)
	}
	front, adminURL := startServe(t, fmt.Sprintf(serveConfig, memberYAML(urls...)))
	req0, read0 := requestsCounted(t, adminURL)
	for range 20 {
		res, err := http.Get(front + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	req1, read1 := requestsCounted(t, adminURL)
	if req1-req0 != 20 || read1-read0 < 200 {
		t.Fatalf("after 20 requests: requests moved by %v (want 20), bytes read by %v (want >= 200)", req1-req0, read1-read0)
	}
}
