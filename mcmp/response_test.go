package mcmp_test

import (
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/mcmp"
)

func TestAnswers(t *testing.T) {
	tests := []struct{ got, want string }{
		{mcmp.StatusResponse("node1", true, 1795262500724691), "Type=STATUS-RSP&JVMRoute=node1&State=OK&id=1795262500724691\n"},
		{mcmp.StatusResponse("node1", false, 7), "Type=STATUS-RSP&JVMRoute=node1&State=NOTOK&id=7\n"},
		{mcmp.PingResponse("", true, 7), "Type=PING-RSP&State=OK&id=7\n"},
		{mcmp.PingResponse("node1", false, 7), "Type=PING-RSP&JVMRoute=node1&State=NOTOK&id=7\n"},
		{mcmp.AppResponse(mcmp.EnableApp, "node1", []mcmp.AliasContexts{{"localhost", []string{"/app"}}}),
			"Type=ENABLE-APP-RSP\nJvmRoute=node1\nAlias=localhost Contexts=/app\n\n"},
		{mcmp.AppResponse(mcmp.DisableApp, "node1", []mcmp.AliasContexts{{"localhost", []string{"/app"}}, {"example.com", []string{"/app"}}}),
			"Type=DISABLE-APP-RSP\nJvmRoute=node1\nAlias=localhost Contexts=/app\n\nAlias=example.com Contexts=/app\n\n"},
		{mcmp.AppResponse(mcmp.RemoveApp, "node1", nil), "Type=REMOVE-APP-RSP\nJvmRoute=node1\n"},
		{mcmp.StopAppResponse("node1", []string{"default-host", "localhost"}, []string{"/myapp"}, 3),
			"Type=STOP-APP-RSP&JvmRoute=node1&Alias=default-host,localhost&Context=/myapp&Requests=3\n"},
		{mcmp.VersionResponse("barkeep/1.0.0", false), "release: barkeep/1.0.0, protocol: 0.2.1\n"},
		{mcmp.VersionResponse("barkeep/1.0.0", true), "<?xml version=\"1.0\" standalone=\"yes\" ?>\n<version><release>barkeep/1.0.0</release><protocol>0.2.1</protocol></version>\n"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got  %q\nwant %q", tt.got, tt.want)
		}
	}
}

// TestInfoExample reproduces the INFO example of MCMP.md §3.5 byte for byte.
func TestInfoExample(t *testing.T) {
	tab := mcmp.Table{
		Nodes: []mcmp.TableNode{
			{ID: 0, JVMRoute: "node1", Balancer: "mycluster", Host: "127.0.0.1", Port: "9001", Type: "http",
				FlushWait: 10 * time.Millisecond, Ping: 10 * time.Second, Smax: -1, TTL: time.Minute},
			{ID: 1, JVMRoute: "node2", Balancer: "mycluster", Domain: "dom2", Host: "127.0.0.1", Port: "9002", Type: "http",
				FlushWait: 20 * time.Millisecond, Ping: 5 * time.Second, Smax: 10, TTL: 30 * time.Second},
		},
		Hosts: []mcmp.TableHost{{ID: 0, Vhost: 1, Node: 0, Alias: "localhost"}, {ID: 1, Vhost: 1, Node: 1, Alias: "localhost"}, {ID: 2, Vhost: 2, Node: 1, Alias: "example.com"}},
		Contexts: []mcmp.TableContext{
			{ID: 0, Vhost: 1, Node: 0, Path: "/app", Status: mcmp.Enabled},
			{ID: 1, Vhost: 1, Node: 1, Path: "/app", Status: mcmp.Enabled},
			{ID: 2, Vhost: 2, Node: 1, Path: "/app", Status: mcmp.Enabled},
		},
	}
	want := `Node: [0],Name: node1,Balancer: mycluster,LBGroup: ,Host: 127.0.0.1,Port: 9001,Type: http,Flushpackets: Off,Flushwait: 10,Ping: 10,Smax: -1,Ttl: 60,Elected: 0,Read: 0,Transfered: 0,Connected: 0,Load: 0
Node: [1],Name: node2,Balancer: mycluster,LBGroup: dom2,Host: 127.0.0.1,Port: 9002,Type: http,Flushpackets: Off,Flushwait: 20,Ping: 5,Smax: 10,Ttl: 30,Elected: 0,Read: 0,Transfered: 0,Connected: 0,Load: 0
Vhost: [0:1:0], Alias: localhost
Vhost: [1:1:1], Alias: localhost
Vhost: [1:2:2], Alias: example.com
Context: [0:1:0], Context: /app, Status: ENABLED
Context: [1:1:1], Context: /app, Status: ENABLED
Context: [1:2:2], Context: /app, Status: ENABLED
`
	if got := tab.Info(); got != want {
		t.Errorf("INFO:\n%s\nwant:\n%s", got, want)
	}
	if (&mcmp.Table{}).Info() != "" || (&mcmp.Table{}).Dump() != "" {
		t.Error("INFO/DUMP of empty tables are not empty")
	}
}

func TestDumpExample(t *testing.T) {
	tab := mcmp.Table{Balancers: []mcmp.TableBalancer{{Name: "mycluster", Sticky: true, Cookie: "JSESSIONID", Path: "jsessionid", Force: true, MaxAttempts: 1}}}
	want := "balancer: [0] Name: mycluster Sticky: 1 [JSESSIONID]/[jsessionid] remove: 0 force: 1 Timeout: 0 maxAttempts: 1\n"
	if got := tab.Dump(); got != want {
		t.Errorf("DUMP = %q, want %q", got, want)
	}
}
