package mcmpserver_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// TestNodeAddressChecks: a CONFIG whose Host, Port or Type no member can
// have, that points at barkeep's own listeners, or that is outside
// allow_backends changes nothing and gets a MEM answer naming the field
// (MEM, not SYNTAX: the reference accepts these, and a Java worker stops
// talking to a balancer for good after a SYNTAX answer).
func TestNodeAddressChecks(t *testing.T) {
	backends, err := mcmpserver.ParseBackends([]string{"10.0.0.0/8", "192.168.7.7", "*.example.com", "db.test"})
	if err != nil {
		t.Fatal(err)
	}
	lookups := 0
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		lookups++
		switch host {
		case "localhost":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, nil
		case "inside.test":
			return []netip.Addr{netip.MustParseAddr("10.1.2.3")}, nil
		case "outside.test":
			return []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("172.16.0.1")}, nil
		}
		return nil, errors.New("no such host")
	}
	openStore, closedStore := registry.NewStore(), registry.NewStore()
	open := mcmpserver.New(openStore, mcmpserver.Options{Probe: alwaysUp, Lookup: lookup, MaxNode: 50,
		Listeners: func() []netip.AddrPort {
			return []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8090"), netip.MustParseAddrPort("[::]:8000"), netip.MustParseAddrPort("10.9.9.9:6666")}
		}})
	closed := mcmpserver.New(closedStore, mcmpserver.Options{Probe: alwaysUp, Lookup: lookup, MaxNode: 50, AllowBackends: backends})
	for i, tt := range []struct {
		srv  *mcmpserver.Server
		addr string // Host, Port and Type of the CONFIG
		mess string // "" for accepted
	}{
		{open, "Host=10.0.0.5&Port=8009&Type=ajp", ""},
		{open, "Host=app-1.internal&Port=8080&Type=http", ""},
		{open, "Host=%5Bfe80%3A%3A1%5D&Port=8443&Type=https", ""},
		{open, "Host=10.0.0.5&Port=8081&Type=h2c", ""},
		{open, "Port=abc&Host=10.0.0.5", mcmpserver.MessBadPort},
		{open, "Port=99999&Host=10.0.0.5", mcmpserver.MessBadPort},
		{open, "Port=0&Host=10.0.0.5", mcmpserver.MessBadPort},
		{open, "Port=-80&Host=10.0.0.5", mcmpserver.MessBadPort},
		{open, "Type=gopher&Host=10.0.0.5&Port=70", mcmpserver.MessBadType},
		{open, "Type=ws&Host=10.0.0.5&Port=70", mcmpserver.MessBadType},
		{open, "Host=evil@127.0.0.1/x?&Port=80", mcmpserver.MessBadHost},
		{open, "Host=127.0.0.1%20x&Port=80", mcmpserver.MessBadHost},
		{open, "Host=127.1&Port=80", mcmpserver.MessBadHost},
		{open, "Host=-a.example&Port=80", mcmpserver.MessBadHost},
		// barkeep's own listeners: the specific one, and the one on all
		// addresses through loopback, the unspecified address and a name.
		{open, "Host=127.0.0.1&Port=8090&Type=http", mcmpserver.MessOwnAddress},
		{open, "Host=127.0.0.1&Port=8000&Type=http", mcmpserver.MessOwnAddress},
		{open, "Host=0.0.0.0&Port=8000&Type=http", mcmpserver.MessOwnAddress},
		{open, "Host=%5B%3A%3A1%5D&Port=8000&Type=http", mcmpserver.MessOwnAddress},
		{open, "Host=localhost&Port=8000&Type=http", mcmpserver.MessOwnAddress},
		{open, "Host=10.9.9.9&Port=6666&Type=http", mcmpserver.MessOwnAddress},
		{open, "Host=10.9.9.8&Port=6666&Type=http", ""}, // another machine, same port
		{open, "Host=nowhere.test&Port=8090&Type=http", "MEM: Host nowhere.test does not resolve"},
		// allow_backends.
		{closed, "Host=10.0.0.5&Port=8009", ""},
		{closed, "Host=192.168.7.7&Port=8009", ""},
		{closed, "Host=192.168.7.8&Port=8009", mcmpserver.MessNotAllowed},
		{closed, "Host=127.0.0.1&Port=22&Type=http", mcmpserver.MessNotAllowed},
		{closed, "Host=app.example.com&Port=8009", ""},
		{closed, "Host=DB.test&Port=8009", ""},
		{closed, "Host=inside.test&Port=8009", ""},
		{closed, "Host=outside.test&Port=8009", mcmpserver.MessNotAllowed},
		{closed, "Host=example.com&Port=8009", "MEM: Host example.com does not resolve"},
	} {
		route := "n" + itoa(int64(i))
		a := call(t, tt.srv, "CONFIG", "/", "JVMRoute="+route+"&"+tt.addr)
		switch {
		case tt.mess == "" && a.status != 200:
			t.Errorf("CONFIG %s = %d %s %q, want accepted", tt.addr, a.status, a.typ, a.mess)
		case tt.mess != "" && (a.status != 500 || a.typ != "MEM" || a.mess != tt.mess):
			t.Errorf("CONFIG %s = %d %s %q, want MEM %q", tt.addr, a.status, a.typ, a.mess, tt.mess)
		}
		if registered := openStore.Load().Node(route) != nil || closedStore.Load().Node(route) != nil; registered != (tt.mess == "") {
			t.Errorf("CONFIG %s: node registered = %v", tt.addr, registered)
		}
	}
	if lookups > 6 {
		t.Errorf("%d host name lookups, want only where the address had to be checked", lookups)
	}
}

func TestParseBackends(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "a b", "*.", "http://x"} {
		if _, err := mcmpserver.ParseBackends([]string{bad}); err == nil {
			t.Errorf("ParseBackends(%q) accepted it", bad)
		}
	}
}

// TestGuardPageLeavesMCMPAlone: the page on the manager listener goes
// through GuardPage; MCMP messages never do (workers may use any name).
func TestGuardPageLeavesMCMPAlone(t *testing.T) {
	refuse := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusForbidden) })
	}
	srv := mcmpserver.New(registry.NewStore(), mcmpserver.Options{Probe: alwaysUp, GuardPage: refuse})
	if a := call(t, srv, "GET", "/mod_cluster_manager", ""); a.status != 403 {
		t.Errorf("page: %d, want the guard's 403", a.status)
	}
	if a := call(t, srv, "INFO", "/", ""); a.status != 200 {
		t.Errorf("INFO: %d, want 200", a.status)
	}
	if srv.Page() == nil {
		t.Error("no page to mount on the admin listener")
	}
}
