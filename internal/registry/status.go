package registry

import (
	"fmt"
	"strings"
)

// Status is a set of member status flags set by configuration or by an
// operator, named by httpd's balancer-manager letters. The runtime states
// E (error) and C (health check failed) are not flags here: they live in the
// member's Stats because they change without a new snapshot.
type Status uint8

const (
	// StatusDisabled (D): the member takes no requests; it is tried again
	// once its Retry has passed since the flag was set (httpd's documented
	// behaviour). A sticky request for it uses its Redirect route.
	StatusDisabled Status = 1 << iota
	// StatusStopped (S): the member takes no requests and is never retried
	// until an operator clears the flag.
	StatusStopped
	// StatusIgnoreErrors (I): failures never put the member in error state.
	StatusIgnoreErrors
	// StatusHotStandby (H): the member takes requests only when no other
	// member of its lbset is usable.
	StatusHotStandby
	// StatusDrain (N): the member takes only sticky requests for its own
	// route; no new sessions.
	StatusDrain
)

// statusLetters lists the flags in display order with their letters.
var statusLetters = [...]struct {
	flag   Status
	letter byte
}{
	{StatusDisabled, 'D'},
	{StatusStopped, 'S'},
	{StatusIgnoreErrors, 'I'},
	{StatusHotStandby, 'H'},
	{StatusDrain, 'N'},
}

// Has reports whether every flag in f is set in s.
func (s Status) Has(f Status) bool { return s&f == f }

// String returns the flags as httpd letters in the order DSIHN, or "" when
// no flag is set.
func (s Status) String() string {
	var b strings.Builder
	for _, l := range statusLetters {
		if s.Has(l.flag) {
			b.WriteByte(l.letter)
		}
	}
	return b.String()
}

// ParseStatus reads flags written as httpd letters, e.g. "DH". Letters are
// case-insensitive; spaces, commas and "+" between them are ignored. The
// runtime states E and C and unknown letters are errors.
func ParseStatus(text string) (Status, error) {
	var s Status
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == ' ' || c == ',' || c == '+' {
			continue
		}
		f, ok := StatusFlag(c)
		if !ok {
			return 0, fmt.Errorf("unknown status flag %q (want any of D S I H N)", string(c))
		}
		s |= f
	}
	return s, nil
}

// StatusFlag returns the flag for one httpd letter (case-insensitive).
func StatusFlag(letter byte) (Status, bool) {
	if 'a' <= letter && letter <= 'z' {
		letter -= 'a' - 'A'
	}
	for _, l := range statusLetters {
		if l.letter == letter {
			return l.flag, true
		}
	}
	return 0, false
}

// LBMethod is a member-selection algorithm (httpd's lbmethod).
type LBMethod uint8

const (
	// ByRequests is httpd's weighted request counting: each member gets a
	// share of requests proportional to its loadfactor.
	ByRequests LBMethod = iota
	// ByTraffic picks the member with the fewest bytes read and transferred
	// per loadfactor.
	ByTraffic
	// ByBusyness picks the member with the fewest in-flight requests per
	// loadfactor, byrequests breaking ties.
	ByBusyness
	// Random picks a member at random, weighted by loadfactor (Cellar).
	Random
	// Cluster is mod_proxy_cluster's method for nodes registered over MCMP:
	// the lowest (elected - oldelected)*1000/load + lbstatus, with the load
	// the nodes report. Only MCMP balancers use it.
	Cluster
)

var lbMethodNames = [...]string{
	ByRequests: "byrequests",
	ByTraffic:  "bytraffic",
	ByBusyness: "bybusyness",
	Random:     "random",
}

// String returns the httpd name of the method ("cluster" for Cluster).
func (m LBMethod) String() string {
	if int(m) < len(lbMethodNames) {
		return lbMethodNames[m]
	}
	if m == Cluster {
		return "cluster"
	}
	return fmt.Sprintf("lbmethod(%d)", uint8(m))
}

// ParseLBMethod returns the method named text (byrequests, bytraffic,
// bybusyness or random; cluster is reserved to MCMP balancers).
func ParseLBMethod(text string) (LBMethod, error) {
	for i, n := range lbMethodNames {
		if n == text {
			return LBMethod(i), nil
		}
	}
	return 0, fmt.Errorf("unknown lbmethod %q (want %s)", text, strings.Join(lbMethodNames[:], ", "))
}

// LBMethodNames returns the names ParseLBMethod accepts, in a fixed order.
func LBMethodNames() []string { return lbMethodNames[:] }

// Source says which writer created a balancer.
type Source uint8

const (
	// SourceConfig marks balancers from the configuration file; a reload
	// replaces them.
	SourceConfig Source = iota
	// SourceMCMP marks balancers created by MCMP node registrations.
	SourceMCMP
)

func (s Source) String() string {
	switch s {
	case SourceConfig:
		return "config"
	case SourceMCMP:
		return "mcmp"
	}
	return fmt.Sprintf("source(%d)", uint8(s))
}
