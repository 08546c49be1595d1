package mcmpserver_test

import (
	"log/slog"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

var fuzzMethods = []string{"CONFIG", "ENABLE-APP", "DISABLE-APP", "STOP-APP", "REMOVE-APP", "STATUS", "PING", "INFO", "DUMP", "VERSION"}

// FuzzHandler sends sequences of arbitrary messages to one manager: every
// answer must be a success or a 500 carrying Type and Mess, and nothing may
// panic or leave the registry unbuildable.
func FuzzHandler(f *testing.F) {
	for _, s := range []struct {
		m    uint8
		wide bool
		body string
	}{
		{0, false, "JVMRoute=node1&Host=10.0.0.5&Port=8009&StickySessionForce=No&Type=ajp"},
		{0, false, "JVMRoute=node2&Balancer=b&Domain=d&Host=10.0.0.6&Port=8080&Type=http&Alias=a,b&Context=/x,/y"},
		{1, false, "JVMRoute=node1&Alias=default-host%2Clocalhost&Context=%2Fmyapp"},
		{3, false, "JVMRoute=node1&Alias=localhost&Context=%2Fmyapp"},
		{4, true, "JVMRoute=node1"},
		{4, false, "JVMRoute=node2&Alias=a&Context=/x"},
		{5, false, "JVMRoute=node1&Load=87"},
		{6, false, "Scheme=ajp&Host=10.0.0.5&Port=8009"},
		{7, false, ""},
		{0, false, "JVMRoute=node3&Host=10.0.0.5&Port=8009&Type=ajp"},
	} {
		f.Add(s.m, s.wide, []byte(s.body))
	}
	srv := mcmpserver.New(registry.NewStore(), mcmpserver.Options{Probe: alwaysUp, Log: slog.New(slog.DiscardHandler), MaxNode: 4, MaxContext: 8})
	f.Fuzz(func(t *testing.T, m uint8, wide bool, body []byte) {
		target := "/"
		if wide {
			target = "/*"
		}
		a := call(t, srv, fuzzMethods[int(m)%len(fuzzMethods)], target, string(body))
		switch a.status {
		case 200:
		case 500:
			if a.typ != "SYNTAX" && a.typ != "MEM" && a.typ != "GENERAL" || a.mess == "" {
				t.Fatalf("500 without a proper Type/Mess: %+v", a)
			}
		default:
			t.Fatalf("status %d for %q", a.status, body)
		}
	})
}
