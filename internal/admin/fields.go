package admin

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// field is one setting an operator may change at runtime, read and written
// as text: the API's PATCH, the balancer-manager's form, the audit log,
// the diff against the configuration and the state file all go through
// these, so a value means the same everywhere.
type field[T any] struct {
	name string
	get  func(T) string
	set  func(T, string) error
}

// memberFields are the member settings an operator may change.
var memberFields = []field[*registry.Member]{
	{"status", func(m *registry.Member) string { return m.Status.String() }, func(m *registry.Member, v string) error {
		s, err := registry.ParseStatus(v)
		if err != nil {
			return err
		}
		m.Status = s
		return nil
	}},
	{"loadfactor", func(m *registry.Member) string { return strconv.Itoa(m.LoadFactor) }, func(m *registry.Member, v string) error {
		n, err := intParam(v, "loadfactor", 1, 100)
		m.LoadFactor = n
		return err
	}},
	{"lbset", func(m *registry.Member) string { return strconv.Itoa(m.LBSet) }, func(m *registry.Member, v string) error {
		n, err := intParam(v, "lbset", 0, 99)
		m.LBSet = n
		return err
	}},
	{"route", func(m *registry.Member) string { return m.Route }, func(m *registry.Member, v string) error {
		if !routeRE.MatchString(v) {
			return fmt.Errorf("route %q may not contain spaces, ';', ',' or quotes", v)
		}
		m.Route = v
		return nil
	}},
	{"redirect", func(m *registry.Member) string { return m.Redirect }, func(m *registry.Member, v string) error {
		if !routeRE.MatchString(v) {
			return fmt.Errorf("redirect %q may not contain spaces, ';', ',' or quotes", v)
		}
		m.Redirect = v
		return nil
	}},
}

// balancerFields are the balancer settings an operator may change
// (httpd's balancer-manager b_* parameters).
var balancerFields = []field[*registry.Balancer]{
	{"lbmethod", func(b *registry.Balancer) string { return b.LBMethod.String() }, func(b *registry.Balancer, v string) error {
		m, err := registry.ParseLBMethod(v)
		b.LBMethod = m
		return err
	}},
	{"timeout", func(b *registry.Balancer) string { return b.Timeout.String() }, func(b *registry.Balancer, v string) error {
		d, err := durationParam(v)
		b.Timeout = d
		return err
	}},
	{"maxattempts", func(b *registry.Balancer) string { return strconv.Itoa(b.MaxAttempts) }, func(b *registry.Balancer, v string) error {
		if strings.TrimSpace(v) == "-1" {
			b.MaxAttempts = -1
			return nil
		}
		n, err := intParam(v, "maxattempts", 0, 1000)
		b.MaxAttempts = n
		return err
	}},
	{"nofailover", func(b *registry.Balancer) string { return strconv.FormatBool(b.NoFailover) }, func(b *registry.Balancer, v string) error {
		on, err := boolText("nofailover", v)
		b.NoFailover = on
		return err
	}},
	{"stickysession", func(b *registry.Balancer) string { return strings.Join(b.StickySession, "|") }, func(b *registry.Balancer, v string) error {
		b.StickySession = nil
		if v = strings.TrimSpace(v); v == "-" || v == "" {
			return nil
		}
		for n := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == '|' || r == ',' || r == ' ' }) {
			if !routeRE.MatchString(n) {
				return fmt.Errorf("stickysession name %q is not a cookie name", n)
			}
			b.StickySession = append(b.StickySession, n)
		}
		return nil
	}},
}

// setField sets the field named name of v from text; an unknown name is
// an error naming the known ones.
func setField[T any](fields []field[T], v T, name, text string) error {
	for _, f := range fields {
		if f.name == name {
			return f.set(v, text)
		}
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return fmt.Errorf("unknown setting %q (want one of %s)", name, strings.Join(names, ", "))
}

// Change is one setting that differs between two states of a balancer or
// member, as text: Before → After.
type Change struct {
	Field  string `json:"field"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// diffFields lists the fields whose text differs between a and b, in the
// fields' fixed order.
func diffFields[T any](fields []field[T], a, b T) []Change {
	var out []Change
	for _, f := range fields {
		if x, y := f.get(a), f.get(b); x != y {
			out = append(out, Change{f.name, x, y})
		}
	}
	return out
}

// markStatusChange keeps StatusSince right after an edit from before to m.
func markStatusChange(before registry.Status, m *registry.Member, now time.Time) {
	if m.Status != before {
		m.StatusSince = now
	}
}

var routeRE = regexp.MustCompile(`^[!#$%&'*+\-.^_` + "`" + `|~0-9A-Za-z]*$`)

// boolText reads an on/off value: 1 or 0, on or off, true or false.
func boolText(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "on", "true":
		return true, nil
	case "0", "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("%s=%q: want 0 or 1", name, v)
}

func intParam(v, name string, lo, hi int) (int, error) {
	// The page shows factors as httpd does ("1.00"); accept that form.
	v = strings.TrimSuffix(strings.TrimSuffix(v, ".00"), ".0")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q: want a whole number in %d..%d", name, v, lo, hi)
	}
	return n, nil
}

func durationParam(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("timeout %q: want seconds or a duration such as 30s", v)
	}
	return d, nil
}
