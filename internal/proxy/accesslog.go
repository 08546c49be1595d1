package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// AccessLogFormat selects the layout of access log lines.
type AccessLogFormat uint8

const (
	// Combined is Apache's combined format followed by barkeep's fields:
	//
	//	127.0.0.1 - - [21/Nov/2026:13:28:00 +0000] "GET /bar/ HTTP/1.1" 200 42 "-" "curl/8.5.0" balancer=barcrawl route=elm sticky=elm attempts=1 time_us=532
	//
	// route is the member that answered, sticky the route found in the
	// session id, attempts the members tried, time_us the time from the
	// request to the end of the response in microseconds. "-" marks an
	// empty field. A failed or cut-short exchange ends with fault=: client
	// (went away, or its body failed), connect, reset, timeout, response,
	// hung (withdrawn from a member in error state), or abort (the member
	// broke off a response already under way: status and bytes are what
	// the client got before the cut).
	Combined AccessLogFormat = iota
	// JSON writes one object per line with the same fields: time, remote,
	// method, uri, proto, status, bytes, referer, user_agent, balancer,
	// route, sticky, attempts, time_us, and fault when a member failed.
	JSON
)

// ParseAccessLogFormat accepts "combined" and "json".
func ParseAccessLogFormat(s string) (AccessLogFormat, error) {
	switch s {
	case "combined", "":
		return Combined, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("unknown access log format %q (want combined or json)", s)
}

// AccessLog writes one line per request to a buffered writer. Lines are
// formatted without reflection straight into the buffer; Run flushes it
// every second, Flush on demand. Safe for concurrent use.
type AccessLog struct {
	mu     sync.Mutex
	w      *bufio.Writer
	format AccessLogFormat
}

// NewAccessLog returns an access log writing lines in format to w.
func NewAccessLog(w io.Writer, format AccessLogFormat) *AccessLog {
	return &AccessLog{w: bufio.NewWriterSize(w, 64<<10), format: format}
}

// Flush writes buffered lines out.
func (l *AccessLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

// Run flushes the log every second until ctx is done, then once more.
func (l *AccessLog) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return l.Flush()
		case <-t.C:
			if err := l.Flush(); err != nil {
				return fmt.Errorf("flush access log: %w", err)
			}
		}
	}
}

func (l *AccessLog) write(x *exchange) {
	end := x.h.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.w.AvailableBuffer()
	if l.format == JSON {
		b = appendJSON(b, x, end)
	} else {
		b = appendCombined(b, x, end)
	}
	l.w.Write(b) //nolint:errcheck // a full disk must not fail requests; Flush reports it
}

// entry gathers the fields both formats print.
type entry struct {
	remote, balancer, route, sticky string
	status                          int
}

func entryOf(x *exchange) entry {
	x.buf = appendIP(x.buf[:0], x.remote)
	e := entry{remote: b2s(x.buf), status: x.status, sticky: x.sticky}
	if x.bal != nil {
		e.balancer = x.bal.Name
	}
	if x.member != nil && (x.fault == FaultNone || x.fault == FaultAbort || x.fault == FaultClient && x.status != 0) {
		e.route = x.member.Route
		if e.route == "" {
			e.route = x.member.Name
		}
	}
	if e.status == 0 {
		e.status = 200
	}
	return e
}

func attemptCount(x *exchange) int {
	if x.member == nil {
		return 0
	}
	return x.retries + 1
}

func appendCombined(b []byte, x *exchange, end time.Time) []byte {
	e := entryOf(x)
	h := &x.req.Header
	b = append(b, e.remote...)
	b = append(b, " - - ["...)
	b = x.start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, `] "`...)
	b = appendEscaped(b, b2s(h.Method()))
	b = append(b, ' ')
	b = appendEscaped(b, b2s(x.uri))
	b = append(b, ' ')
	b = appendEscaped(b, x.proto)
	b = append(b, `" `...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, ' ')
	if x.bytes == 0 {
		b = append(b, '-')
	} else {
		b = strconv.AppendInt(b, x.bytes, 10)
	}
	b = appendQuotedField(b, b2s(h.Peek("Referer")))
	b = appendQuotedField(b, b2s(h.UserAgent()))
	b = appendKV(b, "balancer", e.balancer)
	b = appendKV(b, "route", e.route)
	b = appendKV(b, "sticky", e.sticky)
	b = append(b, " attempts="...)
	b = strconv.AppendInt(b, int64(attemptCount(x)), 10)
	b = append(b, " time_us="...)
	b = strconv.AppendInt(b, end.Sub(x.start).Microseconds(), 10)
	if x.fault != FaultNone {
		b = appendKV(b, "fault", x.fault.String())
	}
	return append(b, '\n')
}

func appendQuotedField(b []byte, v string) []byte {
	b = append(b, ` "`...)
	if v == "" {
		b = append(b, '-')
	} else {
		b = appendEscaped(b, v)
	}
	return append(b, '"')
}

func appendKV(b []byte, k, v string) []byte {
	b = append(b, ' ')
	b = append(b, k...)
	b = append(b, '=')
	if v == "" {
		return append(b, '-')
	}
	return appendEscaped(b, v)
}

// appendEscaped writes s as Apache does in log fields: '"' and '\' are
// backslash-escaped, control and non-ASCII bytes written as \xhh, so a
// client cannot forge log lines.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendJSON(b []byte, x *exchange, end time.Time) []byte {
	e := entryOf(x)
	h := &x.req.Header
	b = append(b, `{"time":"`...)
	b = x.start.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, '"')
	b = appendJSONField(b, "remote", e.remote)
	b = appendJSONField(b, "method", b2s(h.Method()))
	b = appendJSONField(b, "uri", b2s(x.uri))
	b = appendJSONField(b, "proto", x.proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, x.bytes, 10)
	b = appendJSONField(b, "referer", b2s(h.Peek("Referer")))
	b = appendJSONField(b, "user_agent", b2s(h.UserAgent()))
	b = appendJSONField(b, "balancer", e.balancer)
	b = appendJSONField(b, "route", e.route)
	b = appendJSONField(b, "sticky", e.sticky)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(attemptCount(x)), 10)
	b = append(b, `,"time_us":`...)
	b = strconv.AppendInt(b, end.Sub(x.start).Microseconds(), 10)
	if x.fault != FaultNone {
		b = appendJSONField(b, "fault", x.fault.String())
	}
	return append(b, "}\n"...)
}

func appendJSONField(b []byte, k, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, `":"`...)
	b = appendJSONString(b, v)
	return append(b, '"')
}

// appendJSONString writes s escaped for a JSON string; invalid UTF-8 becomes
// U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}
