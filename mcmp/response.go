package mcmp

import (
	"strconv"
	"strings"
	"time"
)

// ContextStatus is the state of an application context on a node.
type ContextStatus uint8

const (
	// Enabled: the context takes new and sticky requests.
	Enabled ContextStatus = 1
	// Disabled: only requests carrying a session id.
	Disabled ContextStatus = 2
	// Stopped: no requests.
	Stopped ContextStatus = 3
)

func (s ContextStatus) String() string {
	switch s {
	case Enabled:
		return "ENABLED"
	case Disabled:
		return "DISABLED"
	case Stopped:
		return "STOPPED"
	}
	return "UNKNOWN"
}

// StatusResponse is the body of a STATUS answer (HTTP 200 also for NOTOK):
// "Type=STATUS-RSP&JVMRoute=<r>&State=OK|NOTOK&id=<id>\n".
func StatusResponse(route string, ok bool, id int64) string {
	return "Type=STATUS-RSP&JVMRoute=" + route + "&State=" + state(ok) + "&id=" + strconv.FormatInt(id, 10) + "\n"
}

// PingResponse is the body of a PING answer; route is "" for a PING of a
// backend or of the balancer.
func PingResponse(route string, ok bool, id int64) string {
	var b strings.Builder
	b.WriteString("Type=PING-RSP")
	if route != "" {
		b.WriteString("&JVMRoute=" + route)
	}
	b.WriteString("&State=" + state(ok) + "&id=" + strconv.FormatInt(id, 10) + "\n")
	return b.String()
}

func state(ok bool) string {
	if ok {
		return "OK"
	}
	return "NOTOK"
}

// AliasContexts lists the contexts an *-APP command touched under one alias.
type AliasContexts struct {
	Alias    string
	Contexts []string
}

// AppResponse is the body of a context-form ENABLE-APP, DISABLE-APP or
// REMOVE-APP answer, in the reference's layout:
//
//	Type=ENABLE-APP-RSP\nJvmRoute=node1\nAlias=localhost Contexts=/app\n\n
//
// with one "Alias=... Contexts=...\n\n" block per alias that had a context
// touched.
func AppResponse(cmd Method, route string, touched []AliasContexts) string {
	var b strings.Builder
	b.WriteString("Type=" + string(cmd) + "-RSP\nJvmRoute=" + route)
	for _, t := range touched {
		if len(t.Contexts) == 0 {
			continue
		}
		b.WriteString("\nAlias=" + t.Alias + " Contexts=" + strings.Join(t.Contexts, ",") + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// StopAppResponse is the body of a context-form STOP-APP answer in the
// legacy single-line form the Java worker parses for graceful draining:
// requests is the number of requests still in flight to the contexts; the
// worker repeats STOP-APP until it reads 0.
func StopAppResponse(route string, aliases, contexts []string, requests int64) string {
	return "Type=STOP-APP-RSP&JvmRoute=" + route + "&Alias=" + strings.Join(aliases, ",") +
		"&Context=" + strings.Join(contexts, ",") + "&Requests=" + strconv.FormatInt(requests, 10) + "\n"
}

// VersionResponse is the body of a VERSION answer for release (such as
// "barkeep/1.0.0"), as text or XML.
func VersionResponse(release string, xml bool) string {
	if xml {
		return `<?xml version="1.0" standalone="yes" ?>` + "\n<version><release>" + release +
			"</release><protocol>" + ProtocolVersion + "</protocol></version>\n"
	}
	return "release: " + release + ", protocol: " + ProtocolVersion + "\n"
}

// Table is what INFO and DUMP show: the balancer's node, host (alias) and
// context tables, each in id order.
type Table struct {
	Balancers []TableBalancer
	Nodes     []TableNode
	Hosts     []TableHost
	Contexts  []TableContext
}

// TableBalancer is a balancer row (DUMP only).
type TableBalancer struct {
	ID          int
	Name        string
	Sticky      bool
	Cookie      string
	Path        string
	Remove      bool
	Force       bool
	Timeout     time.Duration // WaitWorker
	MaxAttempts int
}

// TableNode is a node row with its worker's counters.
type TableNode struct {
	ID           int
	JVMRoute     string
	Balancer     string
	Domain       string
	Host         string
	Port         string
	Type         string
	FlushPackets FlushMode
	FlushWait    time.Duration
	Ping         time.Duration
	Smax         int
	TTL          time.Duration
	Timeout      time.Duration
	Elected      uint64
	Read         uint64
	Transferred  uint64
	Connected    int64
	Load         int
}

// TableHost is a host (alias) row: alias Alias of virtual host Vhost of
// node Node.
type TableHost struct {
	ID, Vhost, Node int
	Alias           string
}

// TableContext is a context row.
type TableContext struct {
	ID, Vhost, Node int
	Path            string
	Status          ContextStatus
}

func itoa(i int) string         { return strconv.Itoa(i) }
func utoa(u uint64) string      { return strconv.FormatUint(u, 10) }
func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
func sec(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10)
}

// Info returns the INFO text: one line per node, host and context, each
// ending in LF; empty when there are no nodes. "Transfered" is spelled as
// the reference (and the Java parser) spell it.
func (t *Table) Info() string {
	var b strings.Builder
	for _, n := range t.Nodes {
		b.WriteString("Node: [" + itoa(n.ID) + "],Name: " + n.JVMRoute + ",Balancer: " + n.Balancer +
			",LBGroup: " + n.Domain + ",Host: " + n.Host + ",Port: " + n.Port + ",Type: " + n.Type +
			",Flushpackets: " + n.FlushPackets.String() + ",Flushwait: " + ms(n.FlushWait) +
			",Ping: " + sec(n.Ping) + ",Smax: " + itoa(n.Smax) + ",Ttl: " + sec(n.TTL) +
			",Elected: " + utoa(n.Elected) + ",Read: " + utoa(n.Read) + ",Transfered: " + utoa(n.Transferred) +
			",Connected: " + strconv.FormatInt(n.Connected, 10) + ",Load: " + itoa(n.Load) + "\n")
	}
	for _, h := range t.Hosts {
		b.WriteString("Vhost: [" + itoa(h.Node) + ":" + itoa(h.Vhost) + ":" + itoa(h.ID) + "], Alias: " + h.Alias + "\n")
	}
	for _, c := range t.Contexts {
		b.WriteString("Context: [" + itoa(c.Node) + ":" + itoa(c.Vhost) + ":" + itoa(c.ID) + "], Context: " + c.Path +
			", Status: " + c.Status.String() + "\n")
	}
	return b.String()
}

const xmlProlog = `<?xml version="1.0" standalone="yes" ?>` + "\n"

// InfoXML returns the INFO answer for Accept: text/xml, one line after the
// prolog, without a final newline.
func (t *Table) InfoXML() string {
	var b strings.Builder
	b.WriteString(xmlProlog + "<Info><Nodes>")
	for _, n := range t.Nodes {
		b.WriteString(`<Node id="` + itoa(n.ID) + `" name="` + esc(n.JVMRoute) + `">`)
		el(&b, "Balancer", n.Balancer)
		el(&b, "LBGroup", n.Domain)
		el(&b, "Host", n.Host)
		el(&b, "Port", n.Port)
		el(&b, "Type", n.Type)
		el(&b, "Flushpackets", n.FlushPackets.String())
		el(&b, "Flushwait", ms(n.FlushWait))
		el(&b, "Ping", sec(n.Ping))
		el(&b, "Smax", itoa(n.Smax))
		el(&b, "Ttl", sec(n.TTL))
		el(&b, "Elected", utoa(n.Elected))
		el(&b, "Read", utoa(n.Read))
		el(&b, "Transfered", utoa(n.Transferred))
		el(&b, "Connected", strconv.FormatInt(n.Connected, 10))
		el(&b, "Load", itoa(n.Load))
		b.WriteString("</Node>")
	}
	b.WriteString("</Nodes><Vhosts>")
	for _, h := range t.Hosts {
		b.WriteString(`<Vhost id="` + itoa(h.Vhost) + `" alias="` + esc(h.Alias) + `"><Node id="` + itoa(h.Node) + `"/></Vhost>`)
	}
	b.WriteString("</Vhosts><Contexts>")
	for _, c := range t.Contexts {
		b.WriteString(`<Context id="` + itoa(c.ID) + `"><Status id="` + itoa(int(c.Status)) + `">` + c.Status.String() +
			`</Status><Context>` + esc(c.Path) + `</Context><Node id="` + itoa(c.Node) + `"/><Vhost id="` + itoa(c.Vhost) + `"/></Context>`)
	}
	b.WriteString("</Contexts></Info>")
	return b.String()
}

// Dump returns the DUMP text: the raw balancer, node, host and context
// tables; empty when nothing is stored.
func (t *Table) Dump() string {
	var b strings.Builder
	for _, bl := range t.Balancers {
		b.WriteString("balancer: [" + itoa(bl.ID) + "] Name: " + bl.Name + " Sticky: " + bit(bl.Sticky) +
			" [" + bl.Cookie + "]/[" + bl.Path + "] remove: " + bit(bl.Remove) + " force: " + bit(bl.Force) +
			" Timeout: " + sec(bl.Timeout) + " maxAttempts: " + itoa(bl.MaxAttempts) + "\n")
	}
	for _, n := range t.Nodes {
		b.WriteString("node: [" + itoa(n.ID) + ":" + itoa(n.ID) + "],Balancer: " + n.Balancer + ",JVMRoute: " + n.JVMRoute +
			",LBGroup: [" + n.Domain + "],Host: " + n.Host + ",Port: " + n.Port + ",Type: " + n.Type +
			",flushpackets: " + itoa(int(n.FlushPackets)) + ",flushwait: " + ms(n.FlushWait) + ",ping: " + sec(n.Ping) +
			",smax: " + itoa(n.Smax) + ",ttl: " + sec(n.TTL) + ",timeout: " + sec(n.Timeout) + "\n")
	}
	for _, h := range t.Hosts {
		b.WriteString("host: " + itoa(h.ID) + " [" + h.Alias + "] vhost: " + itoa(h.Vhost) + " node: " + itoa(h.Node) + "\n")
	}
	for _, c := range t.Contexts {
		b.WriteString("context: " + itoa(c.ID) + " [" + c.Path + "] vhost: " + itoa(c.Vhost) + " node: " + itoa(c.Node) +
			" status: " + itoa(int(c.Status)) + "\n")
	}
	return b.String()
}

// DumpXML returns the DUMP answer for Accept: text/xml.
func (t *Table) DumpXML() string {
	var b strings.Builder
	b.WriteString(xmlProlog + "<Dump><Balancers>")
	for _, bl := range t.Balancers {
		b.WriteString(`<Balancer id="` + itoa(bl.ID) + `" name="` + esc(bl.Name) + `"><StickySession>`)
		el(&b, "Enabled", bit(bl.Sticky))
		el(&b, "Cookie", bl.Cookie)
		el(&b, "Path", bl.Path)
		el(&b, "Remove", bit(bl.Remove))
		el(&b, "Force", bit(bl.Force))
		b.WriteString("</StickySession>")
		el(&b, "Timeout", sec(bl.Timeout))
		el(&b, "MaxAttempts", itoa(bl.MaxAttempts))
		b.WriteString("</Balancer>")
	}
	b.WriteString("</Balancers><Nodes>")
	for _, n := range t.Nodes {
		b.WriteString(`<Node id="` + itoa(n.ID) + `">`)
		el(&b, "Balancer", n.Balancer)
		el(&b, "JVMRoute", n.JVMRoute)
		el(&b, "LBGroup", n.Domain)
		el(&b, "Host", n.Host)
		el(&b, "Port", n.Port)
		el(&b, "Type", n.Type)
		el(&b, "FlushPackets", itoa(int(n.FlushPackets)))
		el(&b, "FlushWait", ms(n.FlushWait))
		el(&b, "Ping", sec(n.Ping))
		el(&b, "Smax", itoa(n.Smax))
		el(&b, "Ttl", sec(n.TTL))
		el(&b, "Timeout", sec(n.Timeout))
		b.WriteString("</Node>")
	}
	b.WriteString("</Nodes><Hosts>")
	for _, h := range t.Hosts {
		b.WriteString(`<Host id="` + itoa(h.ID) + `" alias="` + esc(h.Alias) + `">   <Vhost>` + itoa(h.Vhost) +
			`</Vhost>   <Node>` + itoa(h.Node) + `</Node>   </Host>`)
	}
	b.WriteString("</Hosts><Contexts>")
	for _, c := range t.Contexts {
		b.WriteString(`<Context id="` + itoa(c.ID) + `" path="` + esc(c.Path) + `"><Vhost>` + itoa(c.Vhost) + `</Vhost><Node>` +
			itoa(c.Node) + `</Node><Status id="` + itoa(int(c.Status)) + `">` + c.Status.String() + `</Status></Context>`)
	}
	b.WriteString("</Contexts></Dump>")
	return b.String()
}

func el(b *strings.Builder, name, value string) {
	b.WriteString("<" + name + ">" + esc(value) + "</" + name + ">")
}

// esc escapes '&' for XML; MCMP values cannot hold '<', '>', '"' or '\”.
func esc(s string) string { return strings.ReplaceAll(s, "&", "&amp;") }

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
