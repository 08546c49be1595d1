package registry

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// CheckMethod is how an active health check probes a member (httpd's
// hcmethod).
type CheckMethod uint8

const (
	// CheckNone: no active check.
	CheckNone CheckMethod = iota
	// CheckTCP connects and closes.
	CheckTCP
	// CheckOPTIONS, CheckHEAD and CheckGET send that request to the URI
	// and judge the answer by Expect.
	CheckOPTIONS
	CheckHEAD
	CheckGET
	// CheckCPING sends an AJP CPING and wants the CPONG (ajp members).
	CheckCPING
)

var checkMethodNames = [...]string{"NONE", "TCP", "OPTIONS", "HEAD", "GET", "CPING"}

func (c CheckMethod) String() string {
	if int(c) < len(checkMethodNames) {
		return checkMethodNames[c]
	}
	return "hcmethod?"
}

// ParseCheckMethod reads an hcmethod name (any case).
func ParseCheckMethod(s string) (CheckMethod, error) {
	for i, n := range checkMethodNames {
		if strings.EqualFold(n, s) {
			return CheckMethod(i), nil
		}
	}
	return 0, fmt.Errorf("unknown hcmethod %q (want %s)", s, strings.Join(checkMethodNames[:], ", "))
}

// HealthCheck is a member's active check (mod_proxy_hcheck's parameters).
// Published values are never modified.
type HealthCheck struct {
	Method CheckMethod
	// URI is the path (and query) HTTP checks request; "*" sends
	// "OPTIONS *".
	URI string
	// Interval between two checks of the member.
	Interval time.Duration
	// Timeout bounds one check.
	Timeout time.Duration
	// Passes is how many good checks in a row clear the C flag; Fails how
	// many failed ones set it (hcpasses, hcfails).
	Passes, Fails int
	// Status lists the answer statuses that pass an HTTP check.
	Status StatusSet
	// Body, when not empty, must appear in a GET answer's body; BodyRE,
	// when set, must match it (the first 64 KiB are read).
	Body   string
	BodyRE *regexp.Regexp
}

// StatusSet is a set of HTTP status codes 100..599; membership is a bit
// test, so the request path can consult it for free.
type StatusSet [8]uint64

// Has reports whether code is in the set.
func (s *StatusSet) Has(code int) bool {
	i := code - 100
	return i >= 0 && i < 512 && s[i/64]&(1<<(i%64)) != 0
}

// Add puts the codes lo..hi into the set.
func (s *StatusSet) Add(lo, hi int) {
	for c := max(lo, 100); c <= min(hi, 599); c++ {
		i := c - 100
		s[i/64] |= 1 << (i % 64)
	}
}

// Empty reports whether no code is in the set.
func (s *StatusSet) Empty() bool { return *s == StatusSet{} }
