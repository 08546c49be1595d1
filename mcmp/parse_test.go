package mcmp_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/barkeep-lb/barkeep/mcmp"
)

func parse(t *testing.T, m mcmp.Method, nodeWide bool, body string) mcmp.Request {
	t.Helper()
	r, err := mcmp.Parse(m, nodeWide, []byte(body))
	if err != nil {
		t.Fatalf("Parse(%s, %q) = %v", m, body, err)
	}
	return r
}

func TestJavaWorkerMessages(t *testing.T) {
	// MCMP.md §9: what the Java worker sends.
	c := parse(t, mcmp.Config, false, "JVMRoute=node1&Host=10.0.0.5&Port=8009&StickySessionForce=No&Type=ajp").(*mcmp.ConfigRequest)
	want := &mcmp.ConfigRequest{
		JVMRoute: "node1", Host: "10.0.0.5", Port: "8009", Type: "ajp",
		FlushWait: 10 * time.Millisecond, Ping: 10 * time.Second, Smax: -1, TTL: time.Minute,
		StickySession: true, StickySessionCookie: "JSESSIONID", StickySessionPath: "jsessionid",
		StickySessionForce: false, MaxAttempts: 1,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("CONFIG (-want +got):\n%s", diff)
	}
	c = parse(t, mcmp.Config, false, "JVMRoute=node2&Balancer=MyCluster&Domain=dom2&Host=10.0.0.6&Maxattempts=1&Port=8080&StickySessionForce=No&Timeout=20&Type=http&ping=20").(*mcmp.ConfigRequest)
	if c.Balancer != "mycluster" || c.Domain != "dom2" || c.Timeout != 20*time.Second || c.Ping != 20*time.Second || c.Type != "http" {
		t.Errorf("CONFIG node2: %+v", c)
	}
	a := parse(t, mcmp.EnableApp, false, "JVMRoute=node1&Alias=default-host%2CLocalHost&Context=%2Fmyapp").(*mcmp.AppRequest)
	if diff := cmp.Diff(&mcmp.AppRequest{Cmd: mcmp.EnableApp, JVMRoute: "node1", Aliases: []string{"default-host", "localhost"}, Contexts: []string{"/myapp"}}, a); diff != "" {
		t.Errorf("ENABLE-APP (-want +got):\n%s", diff)
	}
	a = parse(t, mcmp.RemoveApp, true, "JVMRoute=node1").(*mcmp.AppRequest)
	if !a.NodeWide || a.JVMRoute != "node1" {
		t.Errorf("REMOVE-APP /*: %+v", a)
	}
	s := parse(t, mcmp.Status, false, "JVMRoute=node1&Load=87").(*mcmp.StatusRequest)
	if *s != (mcmp.StatusRequest{JVMRoute: "node1", HasLoad: true, Load: 87}) {
		t.Errorf("STATUS: %+v", s)
	}
	s = parse(t, mcmp.Status, false, "JVMRoute=node1").(*mcmp.StatusRequest)
	if s.HasLoad {
		t.Error("STATUS without Load has a load")
	}
	for body, want := range map[string]mcmp.PingRequest{
		"":                                   {},
		"JVMRoute=node1":                     {JVMRoute: "node1"},
		"Scheme=AJP&Host=10.0.0.5&Port=8009": {Scheme: "ajp", Host: "10.0.0.5", Port: "8009"},
		"JVMRoute=n&Scheme=bogus":            {JVMRoute: "n"},
	} {
		if p := parse(t, mcmp.Ping, false, body).(*mcmp.PingRequest); *p != want {
			t.Errorf("PING %q = %+v, want %+v", body, p, want)
		}
	}
	for _, m := range []mcmp.Method{mcmp.Info, mcmp.Dump, mcmp.Version} {
		if r := parse(t, m, false, "ignored<junk>"); r.Method() != m {
			t.Errorf("%s parsed as %s", m, r.Method())
		}
	}
}

func TestBodyRules(t *testing.T) {
	// '+' is not a space; %XY decodes; a lone '%' stays; keys ignore case.
	c := parse(t, mcmp.Config, false, "jvmroute=plus+node%21&HOST=a%zz&Context=%2Fx&Alias=A&context=/y&alias=b%2Cc").(*mcmp.ConfigRequest)
	if c.JVMRoute != "plus+node!" || c.Host != "a%zz" {
		t.Errorf("route %q host %q", c.JVMRoute, c.Host)
	}
	if strings.Join(c.Aliases, ",") != "a,b,c" || strings.Join(c.Contexts, ",") != "/x,/y" {
		t.Errorf("accumulated aliases %v contexts %v", c.Aliases, c.Contexts)
	}
	// Later scalar values win; decoded & and = are literal.
	c = parse(t, mcmp.Config, false, "JVMRoute=a&JVMRoute=b%26c%3Dd").(*mcmp.ConfigRequest)
	if c.JVMRoute != "b&c=d" {
		t.Errorf("route %q", c.JVMRoute)
	}
	// Unknown CONFIG keys are ignored; yes/on/no/off; junk leaves the default.
	c = parse(t, mcmp.Config, false, "JVMRoute=n&Frobnicate=1&StickySession=off&StickySessionRemove=YES&Reversed=true&flushpackets=auto&smax=12abc&Maxattempts=x&flushwait=2s&ttl=3mi&Timeout=1h&WaitWorker=7").(*mcmp.ConfigRequest)
	if c.StickySession || !c.StickySessionRemove || c.Reversed || c.FlushPackets != mcmp.FlushAuto || c.Smax != 12 ||
		c.MaxAttempts != 0 || c.FlushWait != 2*time.Second || c.TTL != 3*time.Minute || c.Timeout != time.Hour || c.WaitWorker != 7*time.Second {
		t.Errorf("CONFIG fields: %+v", c)
	}
	// IPv6 zone stripped.
	c = parse(t, mcmp.Config, false, "JVMRoute=n&Host=%5Bfe80%3A%3A1%25eth0%5D").(*mcmp.ConfigRequest)
	if c.Host != "[fe80::1]" {
		t.Errorf("host %q", c.Host)
	}
	// Limits are inclusive.
	r := strings.Repeat("r", 63)
	if c := parse(t, mcmp.Config, false, "JVMRoute="+r).(*mcmp.ConfigRequest); c.JVMRoute != r {
		t.Error("63-character JVMRoute refused")
	}
	if s := parse(t, mcmp.Status, false, "JVMRoute=n&Load=-1").(*mcmp.StatusRequest); s.Load != -1 {
		t.Error("Load -1 refused")
	}
	if s := parse(t, mcmp.Status, false, "JVMRoute=n&Load=100").(*mcmp.StatusRequest); s.Load != 100 {
		t.Error("Load 100 refused")
	}
}

// TestErrorCatalogue checks every refusal of MCMP.md §3.8 that Parse
// decides, with its exact Type and Mess.
func TestErrorCatalogue(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name     string
		m        mcmp.Method
		nodeWide bool
		body     string
		typ      mcmp.ErrorType
		mess     string
	}{
		{"forbidden char", mcmp.Config, false, "JVMRoute=a%3Cb", "SYNTAX", mcmp.MessParse},
		{"raw quote", mcmp.EnableApp, false, "JVMRoute=a&Alias=x'y&Context=/", "SYNTAX", mcmp.MessParse},
		{"decoded newline", mcmp.Status, false, "JVMRoute=a%0Ab", "SYNTAX", mcmp.MessParse},
		{"CONFIG empty body", mcmp.Config, false, "", "SYNTAX", mcmp.MessParse},
		{"CONFIG empty value", mcmp.Config, false, "JVMRoute=n&Domain=", "SYNTAX", mcmp.MessParse},
		{"CONFIG key without value", mcmp.Config, false, "JVMRoute=n&Domain", "SYNTAX", mcmp.MessParse},
		{"CONFIG no JVMRoute", mcmp.Config, false, "Host=a", "SYNTAX", "SYNTAX: JVMRoute can't be empty"},
		{"CONFIG JVMRoute too big", mcmp.Config, false, "JVMRoute=" + long(64), "SYNTAX", "SYNTAX: JVMRoute field too big"},
		{"Balancer too big", mcmp.Config, false, "JVMRoute=n&Balancer=" + long(40), "SYNTAX", "SYNTAX: Balancer field too big"},
		{"Domain too big", mcmp.Config, false, "JVMRoute=n&Domain=" + long(20), "SYNTAX", "SYNTAX: LBGroup field too big"},
		{"Host too big", mcmp.Config, false, "JVMRoute=n&Host=" + long(64), "SYNTAX", "SYNTAX: Host field too big"},
		{"Port too big", mcmp.Config, false, "JVMRoute=n&Port=1234567", "SYNTAX", "SYNTAX: Port field too big"},
		{"Type too big", mcmp.Config, false, "JVMRoute=n&Type=" + long(16), "SYNTAX", "SYNTAX: Type field too big"},
		{"Alias too big", mcmp.Config, false, "JVMRoute=n&Context=/&Alias=" + long(255), "SYNTAX", "SYNTAX: Alias field too big"},
		{"Context too big", mcmp.Config, false, "JVMRoute=n&Alias=a&Context=/" + long(79), "SYNTAX", "SYNTAX: Context field too big"},
		{"cookie too big", mcmp.Config, false, "JVMRoute=n&StickySessionCookie=" + long(30), "SYNTAX", "SYNTAX: A field is too big"},
		{"path too big", mcmp.Config, false, "JVMRoute=n&StickySessionPath=" + long(30), "SYNTAX", "SYNTAX: A field is too big"},
		{"bad flushwait", mcmp.Config, false, "JVMRoute=n&flushwait=-5", "SYNTAX", "SYNTAX: Flushwait field has bad value"},
		{"bad ping", mcmp.Config, false, "JVMRoute=n&ping=soon", "SYNTAX", "SYNTAX: Ping field has bad value"},
		{"bad ttl", mcmp.Config, false, "JVMRoute=n&ttl=10years", "SYNTAX", "SYNTAX: TTL field has bad value"},
		{"bad timeout", mcmp.Config, false, "JVMRoute=n&Timeout=-1", "SYNTAX", "SYNTAX: Timeout field has bad value"},
		{"CONFIG alias without context", mcmp.Config, false, "JVMRoute=n&Alias=a", "SYNTAX", "SYNTAX: Alias without Context"},
		{"CONFIG context without alias", mcmp.Config, false, "JVMRoute=n&Context=/a", "SYNTAX", "SYNTAX: Context without Alias"},
		{"first problem in body order wins", mcmp.Config, false, "Domain=" + long(20) + "&JVMRoute=" + long(64), "SYNTAX", "SYNTAX: LBGroup field too big"},
		{"APP no JVMRoute", mcmp.EnableApp, false, "Alias=a&Context=/", "SYNTAX", "SYNTAX: JVMRoute can't be empty"},
		{"APP JVMRoute too big", mcmp.StopApp, false, "JVMRoute=" + long(64) + "&Alias=a&Context=/", "SYNTAX", "SYNTAX: JVMRoute field too big"},
		{"APP neither", mcmp.DisableApp, false, "JVMRoute=n", "SYNTAX", "SYNTAX: No Context and Alias in APP command"},
		{"APP alias only", mcmp.EnableApp, false, "JVMRoute=n&Alias=a", "SYNTAX", "SYNTAX: Alias without Context"},
		{"APP context only", mcmp.EnableApp, false, "JVMRoute=n&Context=/a", "SYNTAX", "SYNTAX: Context without Alias"},
		{"APP empty alias", mcmp.EnableApp, false, "JVMRoute=n&Alias=&Context=/a", "SYNTAX", "TODO: Empty Alias is not allowed"},
		{"APP empty context", mcmp.EnableApp, false, "JVMRoute=n&Alias=a&Context=", "SYNTAX", "TODO: Empty Context is not allowed"},
		{"APP empty list item", mcmp.EnableApp, false, "JVMRoute=n&Alias=a,,b&Context=/a", "SYNTAX", "TODO: Empty Alias is not allowed"},
		{"APP one-char last item is fine, empty item is not", mcmp.EnableApp, false, "JVMRoute=n&Alias=a&Context=/a,", "SYNTAX", "TODO: Empty Context is not allowed"},
		{"APP alias too big", mcmp.EnableApp, false, "JVMRoute=n&Alias=" + long(255) + "&Context=/", "SYNTAX", "SYNTAX: Alias field too big"},
		{"APP context too big", mcmp.EnableApp, false, "JVMRoute=n&Alias=a&Context=" + long(80), "SYNTAX", "SYNTAX: Context field too big"},
		{"CONFIG relative context", mcmp.Config, false, "JVMRoute=n&Alias=a&Context=app", "SYNTAX", mcmp.MessContextBad},
		{"APP context with ..", mcmp.EnableApp, false, "JVMRoute=n&Alias=a&Context=%2Fapp%2F..%2Fadmin", "SYNTAX", mcmp.MessContextBad},
		{"APP context ending in ..", mcmp.StopApp, false, "JVMRoute=n&Alias=a&Context=/..", "SYNTAX", mcmp.MessContextBad},
		{"APP context with a space", mcmp.EnableApp, false, "JVMRoute=n&Alias=a&Context=%2Fmy%20app", "SYNTAX", mcmp.MessContextBad},
		{"APP context with a tab", mcmp.DisableApp, false, "JVMRoute=n&Alias=a&Context=/a%09b", "SYNTAX", mcmp.MessContextBad},
		{"APP context with a control character", mcmp.EnableApp, false, "JVMRoute=n&Alias=a&Context=/a%00", "SYNTAX", mcmp.MessContextBad},
		{"APP second context bad", mcmp.EnableApp, false, "JVMRoute=n&Alias=a&Context=/ok,bad", "SYNTAX", mcmp.MessContextBad},
		{"APP odd tokens (crashes the reference)", mcmp.EnableApp, false, "JVMRoute", "SYNTAX", mcmp.MessParse},
		{"node-wide APP empty body (crashes the reference)", mcmp.EnableApp, true, "", "SYNTAX", mcmp.MessParse},
		{"STATUS unknown field", mcmp.Status, false, "JVMRoute=n&Lode=5", "SYNTAX", `SYNTAX: Invalid field "Lode" in message`},
		{"STATUS empty body", mcmp.Status, false, "", "SYNTAX", `SYNTAX: Invalid field "" in message`},
		{"STATUS key without value (crashes the reference)", mcmp.Status, false, "JVMRoute", "SYNTAX", mcmp.MessParse},
		{"STATUS no JVMRoute", mcmp.Status, false, "Load=5", "SYNTAX", "TODO: No JVMRoute given!"},
		{"STATUS JVMRoute too big", mcmp.Status, false, "JVMRoute=" + long(64), "SYNTAX", "SYNTAX: JVMRoute field too big"},
		{"STATUS load too high", mcmp.Status, false, "JVMRoute=n&Load=101", "SYNTAX", "TODO: Bad value for Load"},
		{"STATUS load too low", mcmp.Status, false, "JVMRoute=n&Load=-2", "SYNTAX", "TODO: Bad value for Load"},
		{"STATUS load not a number", mcmp.Status, false, "JVMRoute=n&Load=high", "SYNTAX", "TODO: Bad value for Load"},
		{"PING unknown field", mcmp.Ping, false, "Node=n", "SYNTAX", `SYNTAX: Invalid field "Node" in message`},
		{"PING partial", mcmp.Ping, false, "Scheme=http&Host=a", "SYNTAX", "SYNTAX: Mandatory field(s) missing in message"},
		{"PING bad scheme", mcmp.Ping, false, "Scheme=ftp&Host=a&Port=21", "SYNTAX", "PING Unsupported scheme: ftp"},
		{"PING JVMRoute too big", mcmp.Ping, false, "JVMRoute=" + long(64), "SYNTAX", "SYNTAX: JVMRoute field too big"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := mcmp.Parse(tt.m, tt.nodeWide, []byte(tt.body))
			pe, ok := errors.AsType[*mcmp.ProtocolError](err)
			if !ok {
				t.Fatalf("Parse(%s, %q) = %v, %v; want a *ProtocolError", tt.m, tt.body, r, err)
			}
			if pe.Type != tt.typ || pe.Mess != tt.mess {
				t.Errorf("Parse(%s, %q): Type %s Mess %q; want %s %q", tt.m, tt.body, pe.Type, pe.Mess, tt.typ, tt.mess)
			}
		})
	}
}

func TestParseMethod(t *testing.T) {
	for in, want := range map[string]mcmp.Method{"CONFIG": mcmp.Config, "config": mcmp.Config, "Enable-App": mcmp.EnableApp, "VERSION": mcmp.Version} {
		if m, ok := mcmp.ParseMethod(in); !ok || m != want {
			t.Errorf("ParseMethod(%q) = %q, %v", in, m, ok)
		}
	}
	for _, bad := range []string{"GET", "POST", "FOO", "CONFIGURE", "", "ENABLE-APP-RSP", "ERROR"} {
		if _, ok := mcmp.ParseMethod(bad); ok {
			t.Errorf("ParseMethod(%q) accepted", bad)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { mcmp.IsMCMP("PROPFIND") }); allocs != 0 {
		t.Errorf("IsMCMP allocates %v", allocs)
	}
	for target, want := range map[string]bool{"*": true, "/*": true, "/some/path/*": true, "/": false, "/x*": false} {
		if mcmp.NodeWide(target) != want {
			t.Errorf("NodeWide(%q) != %v", target, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"JVMRoute=node1&Host=10.0.0.5&Port=8009&StickySessionForce=No&Type=ajp",
		"JVMRoute=node1&Alias=default-host%2Clocalhost&Context=%2Fmyapp",
		"JVMRoute=node1&Load=87", "Scheme=ajp&Host=10.0.0.5&Port=8009", "", "=&=", "%", "a=%2",
	} {
		for m := range 7 {
			f.Add(uint8(m), false, []byte(s))
		}
	}
	methods := []mcmp.Method{mcmp.Config, mcmp.EnableApp, mcmp.DisableApp, mcmp.StopApp, mcmp.RemoveApp, mcmp.Status, mcmp.Ping}
	f.Fuzz(func(t *testing.T, mi uint8, nodeWide bool, body []byte) {
		m := methods[int(mi)%len(methods)]
		r, err := mcmp.Parse(m, nodeWide, body)
		if err != nil {
			pe, ok := errors.AsType[*mcmp.ProtocolError](err)
			if !ok || pe.Mess == "" || pe.Type != mcmp.TypeSyntax {
				t.Fatalf("Parse error %v is not a SYNTAX ProtocolError with a message", err)
			}
			return
		}
		if r.Method() != m {
			t.Fatalf("Parse(%s) returned a %s", m, r.Method())
		}
		switch r := r.(type) {
		case *mcmp.ConfigRequest:
			if r.JVMRoute == "" || len(r.JVMRoute) > mcmp.MaxJVMRoute || len(r.Aliases) > 0 != (len(r.Contexts) > 0) {
				t.Fatalf("accepted CONFIG breaks a rule: %+v", r)
			}
			for _, c := range r.Contexts {
				if mcmp.CheckContext(c) != nil {
					t.Fatalf("accepted CONFIG with context %q", c)
				}
			}
		case *mcmp.AppRequest:
			for _, c := range r.Contexts {
				if mcmp.CheckContext(c) != nil {
					t.Fatalf("accepted %s with context %q", m, c)
				}
			}
		case *mcmp.StatusRequest:
			if r.JVMRoute == "" || r.HasLoad && (r.Load < -1 || r.Load > 100) {
				t.Fatalf("accepted STATUS breaks a rule: %+v", r)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for _, tt := range []struct {
		name string
		m    mcmp.Method
		body string
	}{
		{"STATUS", mcmp.Status, "JVMRoute=node1&Load=87"},
		{"ENABLE-APP", mcmp.EnableApp, "JVMRoute=node1&Alias=default-host%2Clocalhost&Context=%2Fmyapp"},
		{"CONFIG", mcmp.Config, "JVMRoute=node2&Balancer=mycluster&Domain=dom2&Host=10.0.0.6&Maxattempts=1&Port=8080&StickySessionForce=No&Timeout=20&Type=http&ping=20"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			body := []byte(tt.body)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := mcmp.Parse(tt.m, false, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
