// Package mcmp is the wire format of MCMP, the mod_cluster Management
// Protocol, as the balancer side (mod_proxy_cluster) speaks it: parsing of
// the messages workers send and encoding of the answers. It holds no
// state and imports only the standard library.
//
// # The protocol flow
//
// MCMP is plain HTTP/1.1 on the balancer's manager listener, with its own
// methods. A worker (a WildFly, JBoss EAP or Tomcat with the mod_cluster
// listener) keeps one connection open and talks like this:
//
//	worker                                           balancer
//	INFO /                                     ->    the nodes, vhosts and contexts it knows (text table)
//	CONFIG / JVMRoute=node1&Host=10.0.0.5&...  ->    200, empty: node1 registered, balancer record rewritten
//	ENABLE-APP / JVMRoute=node1&Alias=localhost&Context=%2Fapp
//	                                           ->    200 Type=ENABLE-APP-RSP...: /app on vhost "localhost" ENABLED
//	STATUS / JVMRoute=node1&Load=87            ->    200 Type=STATUS-RSP&JVMRoute=node1&State=OK&id=...
//	   ... STATUS every 10 s, carrying the node's capacity (100 idle .. 1 saturated, 0 standby, -1 broken)
//	DISABLE-APP / ...&Context=%2Fapp           ->    no new sessions for /app; sticky ones still served
//	STOP-APP / ...&Context=%2Fapp              ->    Type=STOP-APP-RSP&...&Requests=3: repeated until Requests=0
//	REMOVE-APP / ...&Context=%2Fapp            ->    /app forgotten
//	REMOVE-APP /* JVMRoute=node1               ->    node1 leaves (after WaitBeforeRemove)
//
// Bodies are not ordinary form encoding (see [Parse]): they are split on
// every '&' and '=', percent-decoded afterwards, '+' stays '+', and a
// decoded '<', '>', '"', '\”, CR or LF rejects the whole message.
//
// A refused message is answered with HTTP 500 and the headers Type
// (SYNTAX, MEM or GENERAL), Mess and Version ([ProtocolError]). A worker
// treats SYNTAX as fatal for that balancer (it stops talking to it until
// reset) and anything else as "re-send everything at the next period", so
// the error types follow the reference exactly.
//
// The reference is mod_proxy_cluster (native/mod_manager/mod_manager.c);
// barkeep's deliberate differences are listed at the top of docs/mcmp.md
// in barkeep's repository.
package mcmp

// ProtocolVersion is the MCMP version sent in the Version header and by
// VERSION.
const ProtocolVersion = "0.2.1"

// Method is an MCMP request method.
type Method string

// The MCMP methods (mod_manager's is_our_method).
const (
	Config     Method = "CONFIG"
	EnableApp  Method = "ENABLE-APP"
	DisableApp Method = "DISABLE-APP"
	StopApp    Method = "STOP-APP"
	RemoveApp  Method = "REMOVE-APP"
	Status     Method = "STATUS"
	Ping       Method = "PING"
	Info       Method = "INFO"
	Dump       Method = "DUMP"
	Version    Method = "VERSION"
)

var methods = [...]Method{Config, EnableApp, DisableApp, StopApp, RemoveApp, Status, Ping, Info, Dump, Version}

// ParseMethod recognises an MCMP method name, case-insensitively as the
// reference does ("config" is CONFIG).
func ParseMethod(s string) (Method, bool) {
	if len(s) < 4 || len(s) > 11 {
		return "", false
	}
	for _, m := range methods {
		if equalFold(s, string(m)) {
			return m, true
		}
	}
	return "", false
}

// IsMCMP reports whether s names an MCMP method. It does not allocate, so a
// client listener can afford to refuse MCMP (501) on every request.
func IsMCMP(s string) bool {
	_, ok := ParseMethod(s)
	return ok
}

// NodeWide reports whether an MCMP request-target addresses the whole node:
// it is "*" or ends with "/*".
func NodeWide(target string) bool {
	return target == "*" || len(target) >= 2 && target[len(target)-2:] == "/*"
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
