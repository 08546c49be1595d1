package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Agent is the file of "barkeep agent --config FILE": the node a backend
// registers with its balancers over MCMP. Each key has the command-line
// flag of the same name; a flag given on the command line wins over the
// file. Zero values take the defaults noted.
type Agent struct {
	// Proxies are the balancers' manager listeners, "host:port" or
	// "https://host:port"; at least one, or advertise.
	Proxies []string `yaml:"proxies"`
	// Advertise listens for balancers announcing themselves; default off.
	Advertise *AgentAdvertise `yaml:"advertise"`
	// Route is the node's JVMRoute; required.
	Route string `yaml:"route"`
	// Backend is the application's own address, scheme://host:port
	// (http, https, ajp or h2c); required. The agent checks that it
	// answers and reports Load -1 while it does not.
	Backend string `yaml:"backend"`
	// Balancer names the balancer to join; default "" (the balancer's).
	Balancer string `yaml:"balancer"`
	// Domain is the node's load-balancing group; default "".
	Domain string `yaml:"domain"`
	// Contexts are the application paths; default ["/"].
	Contexts []string `yaml:"contexts"`
	// Aliases are the virtual-host names; default ["localhost"].
	Aliases []string `yaml:"aliases"`
	// Interval is the STATUS period; default 10s.
	Interval time.Duration `yaml:"interval"`
	// StopTimeout bounds the drain on SIGTERM; default 10s.
	StopTimeout time.Duration `yaml:"stop_timeout"`
	// NodeTimeout is how long the balancer waits for the backend's answer
	// (CONFIG Timeout); default 0: the balancer's default.
	NodeTimeout time.Duration `yaml:"node_timeout"`
	// Metrics make up the load, each "kind[:key=value,...]" as for
	// --metric, e.g. "cpu:weight=2,capacity=1"; default ["cpu"].
	Metrics []string `yaml:"metrics"`
	// History is how many earlier periods the load averages over; default
	// 9.
	History int `yaml:"history"`
	// Decay weighs each period 1/decay as much as the next; default 2.
	Decay float64 `yaml:"decay"`
	// TLS configures the connections to https:// manager listeners.
	TLS AgentTLS `yaml:"tls"`
	// Log configures the agent's log.
	Log Log `yaml:"log"`

	file string
	pos  map[string]int
}

// AgentAdvertise configures listening for advertising balancers.
type AgentAdvertise struct {
	// Group is the multicast group, "ip:port"; default "224.0.1.105:23364".
	Group string `yaml:"group"`
	// Interface is the network interface to listen on; default "".
	Interface string `yaml:"interface"`
	// SecurityKey is the balancers' advertise security_key; default "".
	SecurityKey string `yaml:"security_key"`
}

// AgentTLS holds PEM file names for https:// manager listeners.
type AgentTLS struct {
	// CA verifies the managers' certificates; default the system roots.
	CA string `yaml:"ca"`
	// Cert and Key are the agent's client certificate, for managers that
	// require one (manager.tls.client_ca); default none.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// LoadAgent reads and checks an agent file; on any problem it returns an
// *Error listing all of them.
func LoadAgent(path string) (*Agent, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: path, Msg: err.Error()}}}
	}
	return ParseAgent(path, data)
}

// ParseAgent decodes and checks an agent file held in memory.
func ParseAgent(name string, data []byte) (*Agent, error) {
	a := &Agent{file: name, pos: map[string]int{}, Log: Log{Format: "text", Level: "info"}}
	problems, ok := decodeInto(name, data, a, a.pos)
	if ok {
		v := &validator{c: &Config{file: name, pos: a.pos}}
		a.validate(v)
		problems = append(problems, v.problems...)
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, &Error{Problems: problems}
	}
	return a, nil
}

// Line returns the line of the field at path (such as "metrics[1]"), or 0.
func (a *Agent) Line(path string) int { return a.pos[path] }

// File returns the name the file was read from.
func (a *Agent) File() string { return a.file }

func (a *Agent) validate(v *validator) {
	for i, p := range a.Proxies {
		f := fmt.Sprintf("proxies[%d]", i)
		if rest, ok := strings.CutPrefix(p, "https://"); ok {
			v.hostPort(f, rest)
		} else {
			v.hostPort(f, strings.TrimPrefix(p, "http://"))
		}
	}
	if a.Route == "" {
		v.fail("route", "the node needs a route (its JVMRoute)")
	} else if len(a.Route) > 63 || !tokenRE.MatchString(a.Route) {
		v.fail("route", "%q: up to 63 letters, digits and token characters", a.Route)
	}
	if u, err := url.Parse(a.Backend); a.Backend == "" || err != nil || u.Port() == "" {
		v.fail("backend", "%q: want scheme://host:port, the application's own address", a.Backend)
	}
	for i, c := range a.Contexts {
		if !strings.HasPrefix(c, "/") {
			v.fail(fmt.Sprintf("contexts[%d]", i), "%q must start with /", c)
		}
	}
	if len(a.Proxies) == 0 && a.Advertise == nil {
		v.fail("proxies", "give the balancers' manager listeners, or advertise")
	}
	if (a.TLS.Cert == "") != (a.TLS.Key == "") {
		v.fail("tls", "cert and key go together")
	}
	for _, f := range []struct{ field, path string }{{"tls.ca", a.TLS.CA}, {"tls.cert", a.TLS.Cert}, {"tls.key", a.TLS.Key}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				v.fail(f.field, "%v", err)
			}
		}
	}
	if a.History < -1 {
		v.fail("history", "%d: want -1 (none) or more", a.History)
	}
	if a.Decay != 0 && a.Decay < 1 {
		v.fail("decay", "%v is below 1", a.Decay)
	}
}
