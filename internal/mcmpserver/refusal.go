package mcmpserver

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/barkeep-lb/barkeep/mcmp"
)

// refusals rate-limits the log of refused messages: a worker that keeps
// sending a bad message (every 10 s, or in a loop) gets one WARN line per
// node and reason per minute, and the next one carries how many were not
// logged. Values are cut so that no line exceeds 1 KiB.
type refusals struct {
	mu   sync.Mutex
	seen map[refusalKey]*refusalCount
}

type refusalKey struct{ node, reason string }

type refusalCount struct {
	since  time.Time // when the last line for this key was written
	hidden int       // refusals since then that were not logged
}

const (
	refusalPeriod = time.Minute
	maxRefusals   = 4096 // keys remembered; beyond, refusals share one key
)

// refuse answers a refused message: 500 with the Version, Type and Mess
// headers (a SYNTAX answer for errors that are not ProtocolErrors) and the
// Mess as the body. route is the node the message was about, "" when
// unknown.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, route string, err error) {
	pe, ok := errors.AsType[*mcmp.ProtocolError](err)
	if !ok {
		pe = &mcmp.ProtocolError{Type: mcmp.TypeSyntax, Mess: mcmp.MessParse, Err: err}
	}
	s.logRefusal(r, route, pe)
	h := w.Header()
	h.Set("Version", mcmp.ProtocolVersion)
	h.Set("Type", string(pe.Type))
	h.Set("Mess", clip(pe.Mess, 1024))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	w.Write([]byte(clip(pe.Mess, 1024) + "\n"))
}

// logRefusal writes the WARN line of a refusal unless the same node had
// the same refusal logged less than a minute ago.
func (s *Server) logRefusal(r *http.Request, route string, pe *mcmp.ProtocolError) {
	node := route
	if node == "" {
		node = hostOf(r.RemoteAddr)
	}
	hidden, ok := s.refused.admit(refusalKey{clip(node, 64), string(pe.Type) + " " + clip(pe.Mess, 256)}, s.now())
	if !ok {
		return
	}
	attrs := []any{"method", clip(r.Method, 16), "remote", clip(r.RemoteAddr, 64), "type", string(pe.Type), "mess", clip(pe.Mess, 256)}
	if route != "" {
		attrs = append(attrs, "route", clip(route, 64))
	}
	if pe.Err != nil {
		attrs = append(attrs, "err", clip(pe.Err.Error(), 128))
	}
	if hidden > 0 {
		attrs = append(attrs, "repeated", hidden)
	}
	s.log.Warn("MCMP message refused", attrs...)
}

// admit reports whether a refusal for k at now is to be logged, and how
// many for k were held back since the last line.
func (f *refusals) admit(k refusalKey, now time.Time) (hidden int, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[refusalKey]*refusalCount{}
	}
	c := f.seen[k]
	if c == nil && len(f.seen) >= maxRefusals {
		f.sweep(now)
		if len(f.seen) >= maxRefusals {
			k = refusalKey{"*", "other refusals"}
			c = f.seen[k]
		}
	}
	if c != nil && now.Sub(c.since) < refusalPeriod {
		c.hidden++
		return 0, false
	}
	if c != nil {
		hidden = c.hidden
	}
	f.seen[k] = &refusalCount{since: now}
	return hidden, true
}

// flush returns, and forgets, the keys whose minute has passed, with the
// refusals held back for each (only keys that have some).
func (f *refusals) flush(now time.Time) map[refusalKey]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out map[refusalKey]int
	for k, c := range f.seen {
		if now.Sub(c.since) < refusalPeriod {
			continue
		}
		if c.hidden > 0 {
			if out == nil {
				out = map[refusalKey]int{}
			}
			out[k] = c.hidden
		}
		delete(f.seen, k)
	}
	return out
}

// sweep forgets keys whose minute has passed and that held nothing back.
func (f *refusals) sweep(now time.Time) {
	for k, c := range f.seen {
		if now.Sub(c.since) >= refusalPeriod && c.hidden == 0 {
			delete(f.seen, k)
		}
	}
}

// logHeldRefusals writes one line for each node and reason whose minute
// has passed with refusals held back, so that counts are not lost when the
// worker stops sending.
func (s *Server) logHeldRefusals() {
	for k, n := range s.refused.flush(s.now()) {
		typ, mess, _ := strings.Cut(k.reason, " ")
		s.log.Warn("MCMP message refused", "node", k.node, "type", typ, "mess", mess, "repeated", n)
	}
}

// clip cuts s to at most n bytes, marking the cut with "...", and replaces
// control characters, so a hostile message cannot make a log line long.
func clip(s string, n int) string {
	cut := len(s) > n
	if cut {
		s = s[:n-3]
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if cut {
		s += "..."
	}
	return s
}
