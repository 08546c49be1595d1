package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// HealthCheckKeys are mod_proxy_hcheck's parameters. They can be set on a
// member, on a balancer (for all its members) and in a named template
// (hctemplate). Unset keys are nil; see Config.Check for the precedence.
type HealthCheckKeys struct {
	// HCMethod is NONE, TCP, OPTIONS, HEAD, GET or CPING (ajp members).
	HCMethod *HCMethod `yaml:"hcmethod"`
	// HCURI is the path (and query) HTTP checks request; default "/".
	// "*" sends "OPTIONS *".
	HCURI *string `yaml:"hcuri"`
	// HCInterval is the time between checks; default 30s, at least 100ms.
	HCInterval *time.Duration `yaml:"hcinterval"`
	// HCPasses good checks in a row bring a member back; default 1.
	HCPasses *int `yaml:"hcpasses"`
	// HCFails failed checks in a row take it out (flag C); default 1.
	HCFails *int `yaml:"hcfails"`
	// HCExpr is what an HTTP check's answer must be.
	HCExpr *HCExpr `yaml:"hcexpr"`
	// HCTemplate names an entry of hctemplates whose keys apply first.
	HCTemplate string `yaml:"hctemplate"`
}

// HCExpr is the expectation of an HTTP check.
type HCExpr struct {
	// Status lists passing statuses: codes, ranges and classes such as
	// "200-399", "2xx", "200, 204"; default "200-399".
	Status string `yaml:"status"`
	// Body must appear in a GET answer's body (first 64 KiB); default "".
	Body string `yaml:"body"`
	// BodyRegexp must match a GET answer's body (Go syntax); default "".
	BodyRegexp string `yaml:"body_regexp"`
}

// HCTemplate is a named set of health-check keys (httpd's
// ProxyHCTemplate).
type HCTemplate struct {
	Name            string `yaml:"name"`
	HealthCheckKeys `yaml:",inline"`
}

// HCMethod names a health-check method.
type HCMethod string

// UnmarshalText accepts the method names in any case.
func (m *HCMethod) UnmarshalText(b []byte) error {
	return setEnum(m, []byte(strings.ToUpper(string(b))), "hcmethod", "NONE", "TCP", "OPTIONS", "HEAD", "GET", "CPING")
}

// Check is a member's resolved health check.
type Check struct {
	Method     HCMethod
	URI        string
	Interval   time.Duration
	Passes     int
	Fails      int
	Status     [][2]int // passing status ranges
	Body       string
	BodyRegexp string
}

// Check resolves the health check of member m of balancer b: defaults, then
// the balancer's template, the balancer's keys, the member's template and
// the member's keys, each overriding the ones before. It returns nil when
// the member has no check (no hcmethod, or NONE).
func (c *Config) Check(b *Balancer, m *Member) *Check {
	out := &Check{URI: "/", Interval: 30 * time.Second, Passes: 1, Fails: 1, Status: [][2]int{{200, 399}}}
	for _, k := range []*HealthCheckKeys{c.template(b.HCTemplate), &b.HealthCheckKeys, c.template(m.HCTemplate), &m.HealthCheckKeys} {
		if k == nil {
			continue
		}
		if k.HCMethod != nil {
			out.Method = *k.HCMethod
		}
		if k.HCURI != nil {
			out.URI = *k.HCURI
		}
		if k.HCInterval != nil {
			out.Interval = *k.HCInterval
		}
		if k.HCPasses != nil {
			out.Passes = *k.HCPasses
		}
		if k.HCFails != nil {
			out.Fails = *k.HCFails
		}
		if e := k.HCExpr; e != nil {
			if e.Status != "" {
				out.Status, _ = ParseStatusRanges(e.Status)
			}
			out.Body, out.BodyRegexp = e.Body, e.BodyRegexp
		}
	}
	if out.Method == "" || out.Method == "NONE" {
		return nil
	}
	return out
}

func (c *Config) template(name string) *HealthCheckKeys {
	for i := range c.HCTemplates {
		if c.HCTemplates[i].Name == name && name != "" {
			return &c.HCTemplates[i].HealthCheckKeys
		}
	}
	return nil
}

// ParseStatusRanges reads status codes and ranges such as "200-399",
// "5xx" or "500, 503" (separated by commas or spaces) as [lo, hi] pairs
// within 100..599.
func ParseStatusRanges(text string) ([][2]int, error) {
	var out [][2]int
	for item := range strings.FieldsFuncSeq(text, func(r rune) bool { return r == ',' || r == ' ' }) {
		lo, hi := 0, 0
		if len(item) == 3 && strings.EqualFold(item[1:], "xx") && item[0] >= '1' && item[0] <= '5' {
			lo = int(item[0]-'0') * 100
			hi = lo + 99
		} else {
			a, b, isRange := strings.Cut(item, "-")
			var err1, err2 error
			lo, err1 = strconv.Atoi(a)
			hi = lo
			if isRange {
				hi, err2 = strconv.Atoi(b)
			}
			if err1 != nil || err2 != nil || lo < 100 || hi > 599 || lo > hi {
				return nil, fmt.Errorf("%q is not a status code or range within 100-599 (e.g. 503, 500-599, 5xx)", item)
			}
		}
		out = append(out, [2]int{lo, hi})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no status code in %q", text)
	}
	return out, nil
}

// checkKeys validates one set of health-check keys at field path f.
func (v *validator) checkKeys(f string, k *HealthCheckKeys) {
	if k.HCTemplate != "" && v.c.template(k.HCTemplate) == nil {
		v.fail(f+".hctemplate", "no hctemplates entry is named %q", k.HCTemplate)
	}
	if k.HCInterval != nil && *k.HCInterval < 100*time.Millisecond {
		v.fail(f+".hcinterval", "%s is below the minimum of 100ms", *k.HCInterval)
	}
	if k.HCPasses != nil && *k.HCPasses < 1 {
		v.fail(f+".hcpasses", "%d: want at least 1", *k.HCPasses)
	}
	if k.HCFails != nil && *k.HCFails < 1 {
		v.fail(f+".hcfails", "%d: want at least 1", *k.HCFails)
	}
	if k.HCURI != nil && *k.HCURI != "*" && !strings.HasPrefix(*k.HCURI, "/") {
		v.fail(f+".hcuri", "%q: want a path such as /health (or * for OPTIONS *)", *k.HCURI)
	}
	if e := k.HCExpr; e != nil {
		if e.Status != "" {
			if _, err := ParseStatusRanges(e.Status); err != nil {
				v.fail(f+".hcexpr.status", "%v", err)
			}
		}
		if e.BodyRegexp != "" {
			if _, err := regexp.Compile(e.BodyRegexp); err != nil {
				v.fail(f+".hcexpr.body_regexp", "%v", err)
			}
		}
	}
}
