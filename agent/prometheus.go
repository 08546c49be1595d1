package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// promScraper reads metric families from Prometheus text endpoints.
type promScraper struct {
	client *http.Client
}

// maxScrape bounds the bytes read from one /metrics answer.
const maxScrape = 16 << 20

// reader returns the reader of a Prometheus metric: the sum of the
// family's series, or for type counter its per-second rate.
func (p *promScraper) reader(m MetricSpec, start time.Time) reader {
	var r *rate
	if m.Type == "counter" {
		r = &rate{}
	}
	return func(ctx context.Context, now time.Time) (float64, error) {
		v, err := p.scrape(ctx, m.URL, m.Name)
		if err != nil || r == nil {
			return v, err
		}
		return r.per(v, now, 1)
	}
}

func (p *promScraper) scrape(ctx context.Context, url, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	res, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scrape %s: status %s", url, res.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(io.LimitReader(res.Body, maxScrape))
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	f, ok := families[name]
	if !ok {
		return 0, fmt.Errorf("scrape %s: no metric %q", url, name)
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		sum += value(m)
	}
	return sum, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	case m.Summary != nil:
		return float64(m.Summary.GetSampleCount())
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}
