package admin

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// collector exports the members' counters, read from the current snapshot
// at scrape time: nothing is recorded on the request path for metrics.
type collector struct {
	store *registry.Store
	now   func() time.Time
}

var (
	memberLabels = []string{"balancer", "member", "route"}
	descElected  = prometheus.NewDesc("barkeep_member_requests_total", "Request attempts sent to the member (httpd's Elected).", memberLabels, nil)
	descErrors   = prometheus.NewDesc("barkeep_member_errors_total", "Failed attempts: connection failures, timeouts, unreadable responses.", memberLabels, nil)
	descRetries  = prometheus.NewDesc("barkeep_member_retries_total", "Times the member was tried again after an error period.", memberLabels, nil)
	descBusy     = prometheus.NewDesc("barkeep_member_busy", "Requests in flight to the member.", memberLabels, nil)
	descRead     = prometheus.NewDesc("barkeep_member_read_bytes_total", "Response bytes read from the member.", memberLabels, nil)
	descSent     = prometheus.NewDesc("barkeep_member_transferred_bytes_total", "Request body bytes sent to the member.", memberLabels, nil)
	descUsable   = prometheus.NewDesc("barkeep_member_usable", "1 when the member may take requests, 0 when it is in error, disabled or stopped.", memberLabels, nil)
	descFactor   = prometheus.NewDesc("barkeep_member_loadfactor", "The member's loadfactor (1..100).", memberLabels, nil)
	descVersion  = prometheus.NewDesc("barkeep_registry_version", "Version of the registry snapshot; it increases with every change.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descElected, descErrors, descRetries, descBusy, descRead, descSent, descUsable, descFactor, descVersion} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.store.Load()
	now := c.now().UnixNano()
	ch <- prometheus.MustNewConstMetric(descVersion, prometheus.GaugeValue, float64(snap.Version))
	for _, b := range snap.Balancers() {
		for _, m := range b.Members {
			l := []string{b.Name, m.Name, m.Route}
			s := m.Stats
			ch <- prometheus.MustNewConstMetric(descElected, prometheus.CounterValue, float64(s.Elected.Load()), l...)
			ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.Errors.Load()), l...)
			ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(s.Retries.Load()), l...)
			ch <- prometheus.MustNewConstMetric(descBusy, prometheus.GaugeValue, float64(s.Busy.Load()), l...)
			ch <- prometheus.MustNewConstMetric(descRead, prometheus.CounterValue, float64(s.Read.Load()), l...)
			ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(s.Transferred.Load()), l...)
			usable := 0.0
			if m.Usable(now) {
				usable = 1
			}
			ch <- prometheus.MustNewConstMetric(descUsable, prometheus.GaugeValue, usable, l...)
			ch <- prometheus.MustNewConstMetric(descFactor, prometheus.GaugeValue, float64(m.LoadFactor), l...)
		}
	}
}
