package agent

import (
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"github.com/barkeep-lb/barkeep/mcmp"
)

func TestAdvertiseListenerChecksEachDatagram(t *testing.T) {
	a, err := New(Options{Route: "n1", Backend: "http://127.0.0.1:8080", Advertise: &AdvertiseOptions{SecurityKey: "k"},
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l := &advertiseListener{a: a, opts: *a.opts.Advertise, seen: map[string]int64{}}
	from := netip.MustParseAddr("10.1.2.3")
	send := func(key, server string, seq int64, status int, addr, proto string) {
		ad := &mcmp.Advertisement{Status: status, Date: "Sat, 21 Nov 2026 11:58:09 GMT", Sequence: seq, Server: server,
			ManagerAddress: addr, ManagerURL: "/" + server, ManagerProtocol: proto, ManagerHost: "h"}
		ad.Sign(key)
		l.handle(ad.Marshal(), from)
	}
	proxies := func() []string {
		a.mu.Lock()
		defer a.mu.Unlock()
		var out []string
		for base := range a.balancers {
			out = append(out, base)
		}
		slices.Sort(out)
		return out
	}

	send("wrong", "forger", 1, 200, "10.9.9.9:6666", "http")
	send("", "no-key", 1, 200, "10.9.9.8:6666", "http")
	l.handle([]byte("GET / HTTP/1.1\r\n\r\n"), from)
	if got := proxies(); len(got) != 0 {
		t.Fatalf("forged or unknown datagrams added %v", got)
	}
	send("k", "b1", 5, 200, "10.0.0.1:6666", "http")
	send("k", "b2", 1, 200, "0.0.0.0:6666", "https")
	send("k", "b1", 6, 200, "10.0.0.1:6666", "http") // the next period: nothing new
	send("k", "b3", 1, 410, "", "")                  // a balancer going away
	want := []string{"http://10.0.0.1:6666", "https://10.1.2.3:6666"}
	if got := proxies(); !slices.Equal(got, want) {
		t.Fatalf("balancers %v, want %v", got, want)
	}
	// A replay of b1's old datagram announcing another address is ignored.
	send("k", "b1", 5, 200, "10.0.0.66:6666", "http")
	if got := proxies(); !slices.Equal(got, want) {
		t.Fatalf("after a replay: %v, want %v", got, want)
	}
}
