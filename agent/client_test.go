package agent

import (
	"testing"
)

func TestEncodeAsTheJavaWorker(t *testing.T) {
	got := encode([]param{{"JVMRoute", "node 1+x"}, {"Alias", "default-host,localhost"}, {"Context", "/my app"}})
	want := "JVMRoute=node%201%2Bx&Alias=default-host%2Clocalhost&Context=%2Fmy%20app"
	if got != want {
		t.Errorf("encode = %s, want %s", got, want)
	}
}

// The INFO example of docs/mcmp.md §3.5, plus a context of node2.
const infoExample = `Node: [0],Name: node1,Balancer: mycluster,LBGroup: ,Host: 127.0.0.1,Port: 9001,Type: http,Flushpackets: Off,Flushwait: 10,Ping: 10,Smax: -1,Ttl: 60,Elected: 0,Read: 0,Transfered: 0,Connected: 0,Load: 0
Node: [1],Name: node2,Balancer: mycluster,LBGroup: dom2,Host: 127.0.0.1,Port: 9002,Type: http,Flushpackets: Off,Flushwait: 20,Ping: 5,Smax: 10,Ttl: 30,Elected: 0,Read: 0,Transfered: 0,Connected: 0,Load: 0
Vhost: [0:1:0], Alias: localhost
Vhost: [1:1:1], Alias: localhost
Vhost: [1:2:2], Alias: example.com
Context: [0:1:0], Context: /app, Status: ENABLED
Context: [1:1:1], Context: /app, Status: ENABLED
Context: [1:2:2], Context: /app, Status: DISABLED
Context: [1:1:3], Context: /shop, Status: STOPPED
`

func TestParseInfo(t *testing.T) {
	ni := parseInfo(infoExample, "node2")
	if !ni.known || ni.id != "1" || ni.host != "127.0.0.1" || ni.port != "9002" || ni.typ != "http" {
		t.Fatalf("node2: %+v", ni)
	}
	if len(ni.vhosts) != 2 || ni.vhosts["1"][0] != "localhost" || ni.vhosts["2"][0] != "example.com" {
		t.Errorf("vhosts %v", ni.vhosts)
	}
	if st := ni.contexts["/app"]; len(st) != 2 || st[0] != "ENABLED" || st[1] != "DISABLED" {
		t.Errorf("/app statuses %v", st)
	}
	if st := ni.contexts["/shop"]; len(st) != 1 || st[0] != "STOPPED" {
		t.Errorf("/shop statuses %v", st)
	}
	if ni := parseInfo(infoExample, "node3"); ni.known || len(ni.contexts) != 0 {
		t.Errorf("node3 is unknown: %+v", ni)
	}
	if ni := parseInfo("", "node1"); ni.known {
		t.Error("empty INFO knows node1")
	}
}

func TestAnswers(t *testing.T) {
	if id, st := statusID("Type=STATUS-RSP&JVMRoute=n1&State=NOTOK&id=1795262500724691\n"); id != "1795262500724691" || st != "NOTOK" {
		t.Errorf("statusID = %s, %s", id, st)
	}
	for body, want := range map[string]int{
		"Type=STOP-APP-RSP&JvmRoute=n1&Alias=localhost&Context=/app&Requests=3\n": 3,
		"Type=STOP-APP-RSP\nJvmRoute=n1\nAlias=localhost Contexts=/app\n\n":       0, // HEAD's form has no Requests
		"": 0,
	} {
		if got := stopRequests(body); got != want {
			t.Errorf("stopRequests(%q) = %d, want %d", body, got, want)
		}
	}
}
