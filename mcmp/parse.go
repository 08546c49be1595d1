package mcmp

import (
	"strings"
	"time"
)

// Field limits: the longest accepted decoded value (mod_proxy_cluster's
// buffer sizes minus the NUL).
const (
	MaxJVMRoute = 63
	MaxBalancer = 39
	MaxDomain   = 19
	MaxHost     = 63
	MaxPort     = 6
	MaxType     = 15
	MaxAlias    = 254
	MaxContext  = 79
	MaxCookie   = 29
)

// Request is one parsed MCMP message: *ConfigRequest, *AppRequest,
// *StatusRequest, *PingRequest or *SimpleRequest.
type Request interface{ Method() Method }

// FlushMode is a node's flushpackets setting.
type FlushMode uint8

const (
	FlushOff  FlushMode = 0
	FlushOn   FlushMode = 1
	FlushAuto FlushMode = 2
)

func (f FlushMode) String() string {
	switch f {
	case FlushOn:
		return "On"
	case FlushAuto:
		return "Auto"
	}
	return "Off"
}

// ConfigRequest is a CONFIG: a node registers or updates itself and
// rewrites its balancer's record. Fields the message leaves out hold the
// reference's defaults; Balancer is "" when absent (the manager's default
// balancer applies).
type ConfigRequest struct {
	JVMRoute string
	Balancer string // lower-cased
	Domain   string
	Host     string // default "localhost"; an IPv6 zone is stripped
	Port     string // default "8009"
	Type     string // default "ajp"
	Reversed bool

	FlushPackets FlushMode     // default Off
	FlushWait    time.Duration // default 10ms
	Ping         time.Duration // default 10s
	Smax         int           // default -1
	TTL          time.Duration // default 60s
	Timeout      time.Duration // default 0: the balancer's default

	StickySession       bool   // default true
	StickySessionCookie string // default "JSESSIONID"
	StickySessionPath   string // default "jsessionid"
	StickySessionRemove bool   // default false
	StickySessionForce  bool   // default true
	WaitWorker          time.Duration
	MaxAttempts         int // default 1

	Aliases  []string // lower-cased
	Contexts []string
}

func (*ConfigRequest) Method() Method { return Config }

// AppRequest is ENABLE-APP, DISABLE-APP, STOP-APP or REMOVE-APP. With
// NodeWide set (request-target "/*") it applies to every context of the
// node and Aliases and Contexts are empty.
type AppRequest struct {
	Cmd      Method
	NodeWide bool
	JVMRoute string
	Aliases  []string // lower-cased
	Contexts []string
}

func (r *AppRequest) Method() Method { return r.Cmd }

// StatusRequest is a STATUS: a load report, or without Load a health probe.
type StatusRequest struct {
	JVMRoute string
	HasLoad  bool
	Load     int // -1 broken, 0 standby, 1..100 capacity
}

func (*StatusRequest) Method() Method { return Status }

// PingRequest is a PING of a node (JVMRoute), of a backend
// (Scheme/Host/Port), or of the balancer itself (no fields).
type PingRequest struct {
	JVMRoute           string
	Scheme, Host, Port string
}

func (*PingRequest) Method() Method { return Ping }

// SimpleRequest is INFO, DUMP or VERSION; they have no parameters.
type SimpleRequest struct{ M Method }

func (r *SimpleRequest) Method() Method { return r.M }

// Parse reads the body of an MCMP message of method m. nodeWide tells
// whether the request-target ended with "/*" (see NodeWide). It follows
// the reference's rules (docs/mcmp.md §1.5, §3): the body is split on every '&'
// and '=' into key/value pairs, each token is percent-decoded ('+' stays),
// keys compare case-insensitively, Alias and Context accumulate across
// repeats, and the first problem in body order is returned as a
// *ProtocolError carrying the reference's Type and Mess. Inputs that crash
// the reference (an odd number of tokens) get the SYNTAX "Can't parse"
// answer here. Parse never panics.
func Parse(m Method, nodeWide bool, body []byte) (Request, error) {
	switch m {
	case Info, Dump, Version:
		return &SimpleRequest{M: m}, nil
	}
	pairs, err := tokenize(body)
	if err != nil {
		return nil, err
	}
	switch m {
	case Config:
		return parseConfig(pairs)
	case EnableApp, DisableApp, StopApp, RemoveApp:
		return parseApp(m, nodeWide, pairs)
	case Status:
		return parseStatus(pairs)
	case Ping:
		return parsePing(pairs, len(body) == 0)
	}
	return nil, syntax(ErrUnknown, MessUnsupported)
}

// pair is one key and its value; hasValue is false for a key whose value
// token is missing (an odd number of tokens).
type pair struct {
	key, value string
	hasValue   bool
}

// tokenize splits the body on every '&' and '=' and decodes each token.
func tokenize(body []byte) ([]pair, error) {
	var tokens []string
	start := 0
	for i := 0; i <= len(body); i++ {
		if i == len(body) || body[i] == '&' || body[i] == '=' {
			t, ok := decode(body[start:i])
			if !ok {
				return nil, syntax(ErrParse, MessParse)
			}
			tokens = append(tokens, t)
			start = i + 1
		}
	}
	pairs := make([]pair, 0, (len(tokens)+1)/2)
	for i := 0; i < len(tokens); i += 2 {
		p := pair{key: tokens[i]}
		if i+1 < len(tokens) {
			p.value, p.hasValue = tokens[i+1], true
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

// decode percent-decodes b as mod_manager's decodeenc does: "%XY" with two
// hex digits becomes that byte, any other '%' stays, '+' stays. It reports
// false when the result holds a character MCMP forbids.
func decode(b []byte) (string, bool) {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
			c = unhex(b[i+1])<<4 | unhex(b[i+2])
			i += 2
		}
		switch c {
		case '<', '>', '"', '\'', '\r', '\n':
			return "", false
		}
		sb.WriteByte(c)
	}
	return sb.String(), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func parseConfig(pairs []pair) (Request, error) {
	r := &ConfigRequest{
		Host: "localhost", Port: "8009", Type: "ajp",
		FlushWait: 10 * time.Millisecond, Ping: 10 * time.Second, Smax: -1, TTL: 60 * time.Second,
		StickySession: true, StickySessionCookie: "JSESSIONID", StickySessionPath: "jsessionid",
		StickySessionForce: true, MaxAttempts: 1,
	}
	for _, p := range pairs {
		if !p.hasValue || p.value == "" {
			return nil, syntax(ErrParse, MessParse)
		}
		if err := r.set(p.key, p.value); err != nil {
			return nil, err
		}
	}
	switch {
	case r.JVMRoute == "":
		return nil, syntax(ErrMissing, MessRouteEmpty)
	case len(r.Aliases) > 0 && len(r.Contexts) == 0:
		return nil, syntax(ErrMissing, MessAliasNoContext)
	case len(r.Contexts) > 0 && len(r.Aliases) == 0:
		return nil, syntax(ErrMissing, MessContextNoAlias)
	}
	return r, nil
}

// set applies one CONFIG parameter; unknown keys are ignored as the
// reference does.
func (r *ConfigRequest) set(key, v string) error {
	var err error
	switch strings.ToLower(key) {
	case "jvmroute":
		r.JVMRoute, err = limited(v, MaxJVMRoute, MessRouteTooBig)
	case "balancer":
		r.Balancer, err = limited(strings.ToLower(v), MaxBalancer, MessBalancerTooBig)
	case "domain":
		r.Domain, err = limited(v, MaxDomain, MessDomainTooBig)
	case "host":
		r.Host, err = limited(stripZone(v), MaxHost, MessHostTooBig)
	case "port":
		r.Port, err = limited(v, MaxPort, MessPortTooBig)
	case "type":
		r.Type, err = limited(v, MaxType, MessTypeTooBig)
	case "reversed":
		yesNo(v, &r.Reversed)
	case "flushpackets":
		switch strings.ToLower(v) {
		case "yes", "on":
			r.FlushPackets = FlushOn
		case "no", "off":
			r.FlushPackets = FlushOff
		case "auto":
			r.FlushPackets = FlushAuto
		}
	case "flushwait":
		r.FlushWait, err = httpdTimeout(v, time.Millisecond, MessFlushwait)
	case "ping":
		r.Ping, err = httpdTimeout(v, time.Second, MessPing)
	case "smax":
		r.Smax = atoi(v)
	case "ttl":
		r.TTL, err = httpdTimeout(v, time.Second, MessTTL)
	case "timeout":
		r.Timeout, err = httpdTimeout(v, time.Second, MessTimeout)
	case "stickysession":
		yesNo(v, &r.StickySession)
	case "stickysessioncookie":
		r.StickySessionCookie, err = limited(v, MaxCookie, MessFieldTooBig)
	case "stickysessionpath":
		r.StickySessionPath, err = limited(v, MaxCookie, MessFieldTooBig)
	case "stickysessionremove":
		yesNo(v, &r.StickySessionRemove)
	case "stickysessionforce":
		yesNo(v, &r.StickySessionForce)
	case "waitworker":
		r.WaitWorker = time.Duration(max(atoi(v), 0)) * time.Second
	case "maxattempts":
		r.MaxAttempts = atoi(v)
	case "alias":
		r.Aliases, err = appendList(r.Aliases, strings.ToLower(v), MaxAlias, MessAliasTooBig, MessEmptyAlias)
	case "context":
		r.Contexts, err = appendContexts(r.Contexts, v)
	}
	return err
}

func parseApp(m Method, nodeWide bool, pairs []pair) (Request, error) {
	r := &AppRequest{Cmd: m, NodeWide: nodeWide}
	for _, p := range pairs {
		if !p.hasValue {
			return nil, syntax(ErrParse, MessParse)
		}
		var err error
		switch strings.ToLower(p.key) {
		case "jvmroute":
			r.JVMRoute, err = limited(p.value, MaxJVMRoute, MessRouteTooBig)
		case "alias":
			if !nodeWide {
				r.Aliases, err = appendList(r.Aliases, strings.ToLower(p.value), MaxAlias, MessAliasTooBig, MessEmptyAlias)
			}
		case "context":
			if !nodeWide {
				r.Contexts, err = appendContexts(r.Contexts, p.value)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case r.JVMRoute == "":
		return nil, syntax(ErrMissing, MessRouteEmpty)
	case nodeWide:
		return r, nil
	case len(r.Aliases) == 0 && len(r.Contexts) == 0:
		return nil, syntax(ErrMissing, MessNoContextAlias)
	case len(r.Contexts) == 0:
		return nil, syntax(ErrMissing, MessAliasNoContext)
	case len(r.Aliases) == 0:
		return nil, syntax(ErrMissing, MessContextNoAlias)
	}
	return r, nil
}

func parseStatus(pairs []pair) (Request, error) {
	r := &StatusRequest{}
	for _, p := range pairs {
		var err error
		switch strings.ToLower(p.key) {
		case "jvmroute":
			if !p.hasValue {
				return nil, syntax(ErrParse, MessParse)
			}
			r.JVMRoute, err = limited(p.value, MaxJVMRoute, MessRouteTooBig)
		case "load":
			if !p.hasValue {
				return nil, syntax(ErrParse, MessParse)
			}
			load, ok := scanInt(p.value)
			if !ok || load < -1 || load > 100 {
				return nil, syntax(ErrBadValue, MessBadLoad)
			}
			r.Load, r.HasLoad = load, true
		default:
			return nil, InvalidField(p.key)
		}
		if err != nil {
			return nil, err
		}
	}
	if r.JVMRoute == "" {
		return nil, syntax(ErrMissing, MessNoRoute)
	}
	return r, nil
}

func parsePing(pairs []pair, empty bool) (Request, error) {
	r := &PingRequest{}
	if empty {
		return r, nil
	}
	for _, p := range pairs {
		var dst *string
		limit, mess := 0, ""
		switch strings.ToLower(p.key) {
		case "jvmroute":
			dst, limit, mess = &r.JVMRoute, MaxJVMRoute, MessRouteTooBig
		case "scheme":
			dst, limit, mess = &r.Scheme, MaxType, MessTypeTooBig
		case "host":
			dst, limit, mess = &r.Host, MaxHost, MessHostTooBig
		case "port":
			dst, limit, mess = &r.Port, MaxPort, MessPortTooBig
		default:
			return nil, InvalidField(p.key)
		}
		if !p.hasValue {
			return nil, syntax(ErrParse, MessParse)
		}
		v, err := limited(p.value, limit, mess)
		if err != nil {
			return nil, err
		}
		*dst = v
	}
	if r.JVMRoute != "" {
		r.Scheme, r.Host, r.Port = "", "", ""
		return r, nil
	}
	if r.Scheme != "" || r.Host != "" || r.Port != "" {
		if r.Scheme == "" || r.Host == "" || r.Port == "" {
			return nil, syntax(ErrMissing, MessMandatory)
		}
		switch strings.ToLower(r.Scheme) {
		case "ajp", "http", "https", "ws", "wss":
			r.Scheme = strings.ToLower(r.Scheme)
			r.Host = stripZone(r.Host)
		default:
			return nil, UnsupportedScheme(r.Scheme)
		}
	}
	return r, nil
}

func limited(v string, limit int, mess string) (string, error) {
	if len(v) > limit {
		return "", syntax(ErrTooBig, mess)
	}
	return v, nil
}

// appendList adds the comma-separated items of v to list; an empty item is
// refused (emptyMess), as is one longer than limit (bigMess).
func appendList(list []string, v string, limit int, bigMess, emptyMess string) ([]string, error) {
	for item := range strings.SplitSeq(v, ",") {
		switch {
		case item == "":
			return nil, syntax(ErrMissing, emptyMess)
		case len(item) > limit:
			return nil, syntax(ErrTooBig, bigMess)
		}
		list = append(list, item)
	}
	return list, nil
}

// appendContexts adds the contexts of the comma list v to list, refusing
// the ones CheckContext refuses.
func appendContexts(list []string, v string) ([]string, error) {
	n := len(list)
	list, err := appendList(list, v, MaxContext, MessContextTooBig, MessEmptyContext)
	if err != nil {
		return nil, err
	}
	for _, c := range list[n:] {
		if pe := CheckContext(c); pe != nil {
			return nil, pe
		}
	}
	return list, nil
}

// yesNo sets *dst for yes/on and no/off (any case); other values leave it.
func yesNo(v string, dst *bool) {
	switch strings.ToLower(v) {
	case "yes", "on":
		*dst = true
	case "no", "off":
		*dst = false
	}
}

// stripZone removes an IPv6 zone from "[addr%zone]" (or "addr%zone").
func stripZone(h string) string {
	i := strings.IndexByte(h, '%')
	if i < 0 || !strings.Contains(h[:i], ":") {
		return h
	}
	if strings.HasSuffix(h, "]") {
		return h[:i] + "]"
	}
	return h[:i]
}

// atoi reads a leading decimal integer as C's atoi: leading blanks, an
// optional sign, digits; anything else ends it; no digits is 0.
func atoi(s string) int {
	n, _ := scanInt(s)
	return n
}

// scanInt is sscanf("%d"): like atoi, but reports whether any digit was
// read. Values are clamped to ±10^9 so they cannot overflow.
func scanInt(s string) (int, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n, digits := 0, 0
	for ; digits < len(s) && '0' <= s[digits] && s[digits] <= '9'; digits++ {
		if n < 1e9 {
			n = n*10 + int(s[digits]-'0')
		}
	}
	if neg {
		n = -n
	}
	return n, digits > 0
}

// httpdTimeout parses httpd's timeout syntax: a non-negative integer with
// an optional unit ms, s, mi or h; unit is the default. Anything else is a
// SYNTAX error with mess.
func httpdTimeout(v string, unit time.Duration, mess string) (time.Duration, error) {
	i := 0
	for i < len(v) && '0' <= v[i] && v[i] <= '9' {
		i++
	}
	if i == 0 || i > 9 {
		return 0, syntax(ErrBadValue, mess)
	}
	n := time.Duration(atoi(v[:i]))
	switch strings.ToLower(v[i:]) {
	case "":
	case "ms":
		unit = time.Millisecond
	case "s":
		unit = time.Second
	case "mi":
		unit = time.Minute
	case "h":
		unit = time.Hour
	default:
		return 0, syntax(ErrBadValue, mess)
	}
	return n * unit, nil
}
