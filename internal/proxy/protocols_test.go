package proxy_test

import (
	"testing"

	"github.com/barkeep-lb/barkeep/internal/proxy/proxytest"
)

// TestOtherProtocols runs the routing, sticky-session and failover tests
// again over the other edges and member protocols: HTTP/2 clients (TLS,
// ALPN h2, and h2c with prior knowledge), which net/http serves and
// converts once into the same exchange, and h2c:// members. The
// HTTP/1.1-to-HTTP/1.1 path is the default of every other test.
func TestOtherProtocols(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"StickySessions", TestStickySessions},
		{"StickyRedirect", TestStickyRedirect},
		{"StickyDisabledMemberUsesRedirect", TestStickyDisabledMemberUsesRedirect},
		{"NoFailover", TestNoFailover},
		{"Drain", TestDrain},
		{"HotStandby", TestHotStandby},
		{"FailoverWhenMemberKilled", TestFailoverWhenMemberKilled},
		{"RefusedConnectionIsRetriedElsewhere", TestRefusedConnectionIsRetriedElsewhere},
		{"RoutesAndExclusions", TestRoutesAndExclusions},
		{"PathParameterSession", TestPathParameterSession},
		{"NoUsableMember503", TestNoUsableMember503},
		{"ServerSentEventsFlow", TestServerSentEventsFlow},
	}
	for _, combo := range []struct {
		edge   proxytest.Protocol
		member string
	}{
		{proxytest.H2, "http"},
		{proxytest.H2C, "http"},
		{proxytest.HTTP1, "h2c"},
		{proxytest.H2, "h2c"},
	} {
		t.Run(string(combo.edge)+" clients, "+combo.member+" members", func(t *testing.T) {
			edge, memberScheme = combo.edge, combo.member
			t.Cleanup(func() { edge, memberScheme = proxytest.HTTP1, "http" })
			for _, tt := range tests {
				t.Run(tt.name, tt.fn)
			}
		})
	}
}
