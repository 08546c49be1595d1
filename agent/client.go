package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/barkeep-lb/barkeep/mcmp"
)

// state is where the agent stands with one balancer.
type state uint8

const (
	stateReset state = iota // register from INFO on at the next chance
	stateOK                 // registered: STATUS each period
	stateDown               // the balancer answered SYNTAX: never talk to it again
)

// balancer is one manager listener the node registers with. Exchanges
// with it are serialised by mu (one connection, as the Java worker keeps).
type balancer struct {
	addr string // host:port
	base string // http://host:port or https://host:port
	hc   *http.Client
	wake chan struct{} // a new period (or the first one): buffer 1

	mu       sync.Mutex
	state    state
	id       string // the id= of the balancer's STATUS answers: changes when it restarts
	failures int    // exchanges failed in a row
}

// param is one key=value of an MCMP body.
type param struct{ key, value string }

// encode writes params as the Java worker does: key=value joined by '&',
// both percent-encoded except for unreserved characters ('+' and ','
// encoded too, since MCMP does not decode '+' to a space).
func encode(params []param) string {
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escape(p.key) + "=" + escape(p.value))
	}
	return b.String()
}

func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// maxAnswer bounds the bytes read from one MCMP answer (INFO of a full
// balancer is a few hundred KB at most).
const maxAnswer = 4 << 20

// send makes one MCMP exchange and returns the answer body. A refusal is
// a *mcmp.ProtocolError carrying the balancer's Type and Mess; a non-200
// without them is reported as a GENERAL refusal.
func (b *balancer) send(ctx context.Context, m mcmp.Method, nodeWide bool, params []param) (string, error) {
	target := b.base + "/"
	if nodeWide {
		target += "*"
	}
	req, err := http.NewRequestWithContext(ctx, string(m), target, strings.NewReader(encode(params)))
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", "barkeep-agent/1.0")
	res, err := b.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s to %s: %w", m, b.addr, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return "", fmt.Errorf("%s to %s: read answer: %w", m, b.addr, err)
	}
	if res.StatusCode != http.StatusOK {
		typ := mcmp.ErrorType(res.Header.Get("Type"))
		if typ == "" {
			typ = mcmp.TypeGeneral
		}
		mess := res.Header.Get("Mess")
		if mess == "" {
			mess = res.Status
		}
		return "", fmt.Errorf("%s to %s: %w", m, b.addr, &mcmp.ProtocolError{Type: typ, Mess: mess})
	}
	return string(body), nil
}

// nodeInfo is what an INFO answer says about one node.
type nodeInfo struct {
	known    bool
	id       string
	host     string
	port     string
	typ      string
	vhosts   map[string][]string // vhost id -> aliases
	contexts map[string][]string // context path -> statuses, one per vhost
}

// parseInfo reads the INFO text (docs/mcmp.md §3.5) for the node named route.
func parseInfo(text, route string) nodeInfo {
	ni := nodeInfo{vhosts: map[string][]string{}, contexts: map[string][]string{}}
	for line := range strings.SplitSeq(text, "\n") {
		switch {
		case strings.HasPrefix(line, "Node: ["):
			f := fields(line)
			if f["Name"] == route {
				ni.known = true
				ni.id = strings.Trim(f["Node"], "[]")
				ni.host, ni.port, ni.typ = f["Host"], f["Port"], f["Type"]
			}
		case strings.HasPrefix(line, "Vhost: ["):
			node, vhost, ok := ids(line)
			if ok && ni.known && node == ni.id {
				_, alias, _ := strings.Cut(line, ", Alias: ")
				ni.vhosts[vhost] = append(ni.vhosts[vhost], alias)
			}
		case strings.HasPrefix(line, "Context: ["):
			node, _, ok := ids(line)
			if ok && ni.known && node == ni.id {
				f := fields(strings.ReplaceAll(line, ", ", ","))
				_, path, _ := strings.Cut(line, "], Context: ")
				path, _, _ = strings.Cut(path, ", Status: ")
				ni.contexts[path] = append(ni.contexts[path], f["Status"])
			}
		}
	}
	return ni
}

// fields splits "Key: value,Key: value" (values without commas).
func fields(line string) map[string]string {
	f := map[string]string{}
	for kv := range strings.SplitSeq(line, ",") {
		if k, v, ok := strings.Cut(kv, ": "); ok {
			f[k] = v
		}
	}
	return f
}

// ids reads "[node:vhost:row]" of a Vhost or Context line.
func ids(line string) (node, vhost string, ok bool) {
	open, close := strings.IndexByte(line, '['), strings.IndexByte(line, ']')
	if open < 0 || close < open {
		return "", "", false
	}
	parts := strings.Split(line[open+1:close], ":")
	if len(parts) != 3 {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// statusID reads the id= and State= of a STATUS answer
// ("Type=STATUS-RSP&JVMRoute=<r>&State=OK|NOTOK&id=<n>").
func statusID(body string) (id, st string) {
	for kv := range strings.SplitSeq(strings.TrimSpace(body), "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "id":
			id = v
		case "State":
			st = v
		}
	}
	return id, st
}

// stopRequests reads the Requests= of a STOP-APP answer as the Java worker
// does (split on '&' and '='); 0 when absent.
func stopRequests(body string) int {
	for kv := range strings.SplitSeq(strings.TrimSpace(body), "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == "Requests" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}
