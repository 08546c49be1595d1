package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
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

// AccessLog writes one line per request. The request path formats its
// line into a pooled buffer and pushes it onto a lock-free queue (one
// atomic swap, no lock, no system call); Run's goroutine moves queued
// lines to a 64 KiB buffered writer every drainEvery and flushes that
// every second, so a slow or full disk never holds up a request. Lines
// keep the order in which requests ended. When more than maxPending lines
// wait (the writer cannot keep up), further lines are dropped and counted
// (Dropped) rather than held in memory. Safe for concurrent use.
type AccessLog struct {
	format  AccessLogFormat
	q       lineQueue
	pending atomic.Int64  // lines queued, not yet written
	dropped atomic.Uint64 // lines dropped because maxPending were queued
	// maxPending is the constant maxPending but for tests.
	maxPending int64

	mu sync.Mutex // held by the one draining the queue; never by a request
	w  *bufio.Writer
}

const (
	// maxPending bounds the lines queued for the writer: about 16 MiB
	// of combined-format lines.
	maxPending = 64 << 10
	// drainEvery is how often Run writes queued lines to the buffer.
	drainEvery = 20 * time.Millisecond
	// maxPooledLine is the largest line buffer kept for reuse.
	maxPooledLine = 16 << 10
)

// NewAccessLog returns an access log writing lines in format to w. Lines
// reach w when Run or Flush writes them.
func NewAccessLog(w io.Writer, format AccessLogFormat) *AccessLog {
	l := &AccessLog{w: bufio.NewWriterSize(w, 64<<10), format: format, maxPending: maxPending}
	l.q.init()
	return l
}

// Dropped returns how many lines were dropped since start because the
// writer fell maxPending lines behind.
func (l *AccessLog) Dropped() uint64 { return l.dropped.Load() }

// Flush writes queued and buffered lines out.
func (l *AccessLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drainLocked()
	return l.w.Flush()
}

// Run writes queued lines every drainEvery and flushes them every second
// until ctx is done, then once more. Errors (a full disk) and dropped
// lines are logged to log, once per second at most, and do not stop it.
func (l *AccessLog) Run(ctx context.Context, log *slog.Logger) error {
	t := time.NewTicker(drainEvery)
	defer t.Stop()
	var lastFlush time.Time
	var reported uint64
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return l.Flush()
		case now := <-t.C:
			if now.Sub(lastFlush) < time.Second {
				l.mu.Lock()
				l.drainLocked()
				l.mu.Unlock()
				continue
			}
			lastFlush = now
			err := l.Flush()
			if msg := fmt.Sprint(err); err != nil && msg != lastErr {
				log.Error("access log not written", "err", err)
				lastErr = msg
			} else if err == nil {
				lastErr = ""
			}
			if d := l.dropped.Load(); d != reported {
				log.Warn("access log lines dropped: the writer cannot keep up", "dropped", d-reported, "dropped_total", d)
				reported = d
			}
		}
	}
}

// write queues x's line. It is the request path's: no lock, no
// allocation once the line pool is warm.
func (l *AccessLog) write(x *exchange) {
	end := x.h.now()
	if l.pending.Add(1) > l.maxPending {
		l.pending.Add(-1)
		l.dropped.Add(1)
		return
	}
	n := linePool.Get().(*logLine)
	if l.format == JSON {
		n.b = appendJSON(n.b[:0], x, end)
	} else {
		n.b = appendCombined(n.b[:0], x, end)
	}
	l.q.push(n)
}

// drainLocked moves every queued line to the buffered writer; l.mu is
// held. A full disk must not fail requests: the error shows at Flush.
func (l *AccessLog) drainLocked() {
	for n := l.q.pop(); n != nil; n = l.q.pop() {
		l.w.Write(n.b) //nolint:errcheck // reported by Flush
		l.pending.Add(-1)
		if cap(n.b) <= maxPooledLine {
			linePool.Put(n)
		}
	}
}

// logLine is one queued access log line.
type logLine struct {
	next atomic.Pointer[logLine]
	b    []byte
}

var linePool = sync.Pool{New: func() any { return &logLine{b: make([]byte, 0, 256)} }}

// lineQueue is a multi-producer, single-consumer FIFO without locks
// (Dmitry Vyukov's intrusive MPSC queue): push is one atomic swap and one
// store; pop is for the one consumer, which holds AccessLog.mu.
type lineQueue struct {
	head atomic.Pointer[logLine] // the last pushed; producers swap it
	tail *logLine                // the next to pop; the consumer's
	stub logLine
}

func (q *lineQueue) init() {
	q.head.Store(&q.stub)
	q.tail = &q.stub
}

func (q *lineQueue) push(n *logLine) {
	n.next.Store(nil)
	prev := q.head.Swap(n)
	prev.next.Store(n) // until this store, pop sees the queue end at prev
}

// pop returns the oldest line, or nil when the queue is empty or its
// oldest line's producer is between its two steps (it is popped later).
func (q *lineQueue) pop() *logLine {
	tail, next := q.tail, q.tail.next.Load()
	if tail == &q.stub {
		if next == nil {
			return nil
		}
		q.tail, tail = next, next
		next = next.next.Load()
	}
	if next != nil {
		q.tail = next
		return tail
	}
	if tail != q.head.Load() {
		return nil // a push is under way
	}
	q.push(&q.stub)
	if next = tail.next.Load(); next != nil {
		q.tail = next
		return tail
	}
	return nil
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
	b = appendStamp(b, x.start)
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

// stamp is the combined format's timestamp of one second in one location.
type stamp struct {
	sec  int64
	loc  *time.Location
	text []byte
}

// lastStamp caches the latest stamp: lines of the same second copy it
// rather than format the time again (httpd and nginx cache theirs too).
var lastStamp atomic.Pointer[stamp]

// appendStamp appends t as "02/Jan/2006:15:04:05 -0700".
func appendStamp(b []byte, t time.Time) []byte {
	sec, loc := t.Unix(), t.Location()
	if s := lastStamp.Load(); s != nil && s.sec == sec && s.loc == loc {
		return append(b, s.text...)
	}
	s := &stamp{sec: sec, loc: loc, text: t.AppendFormat(make([]byte, 0, 26), "02/Jan/2006:15:04:05 -0700")}
	lastStamp.Store(s)
	return append(b, s.text...)
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
