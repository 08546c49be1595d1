package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/config"
)

func TestManagerAdvertise(t *testing.T) {
	c, err := config.Parse("adv.yaml", []byte(`
manager:
  listen: 127.0.0.1:6666
  advertise: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Manager.Advertise; a == nil || *a != (config.Advertise{}) {
		t.Fatalf("advertise: {} = %+v, want on with every default", a)
	}
	c, err = config.Parse("off.yaml", []byte("manager:\n  listen: 127.0.0.1:6666\n"))
	if err != nil || c.Manager.Advertise != nil {
		t.Fatalf("no advertise key: %+v, %v; want off", c.Manager.Advertise, err)
	}
	c, err = config.Parse("full.yaml", []byte(`
manager:
  listen: 127.0.0.1:6666
  advertise: {group: "224.0.1.106:23365", interval: 2s, security_key: s3cret, manager_url: /mgr, interface: lo}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Advertise{Group: "224.0.1.106:23365", Interval: 2 * time.Second, SecurityKey: "s3cret", ManagerURL: "/mgr", Interface: "lo"}
	if *c.Manager.Advertise != want {
		t.Errorf("advertise = %+v, want %+v", *c.Manager.Advertise, want)
	}

	_, err = config.Parse("bad.yaml", []byte(`manager:
  listen: 127.0.0.1:6666
  advertise:
    group: 10.0.0.1:23364
    interval: 1ms
    manager_url: mgr
    interface: "eth 0"
    colour: red
`))
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("bad advertise accepted: %v", err)
	}
	got := err.Error()
	for _, w := range []string{
		"bad.yaml:4: manager.advertise.group:", "bad.yaml:5: manager.advertise.interval:",
		"bad.yaml:6: manager.advertise.manager_url:", "bad.yaml:7: manager.advertise.interface:",
		"bad.yaml:8: manager.advertise.colour: unknown key",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("problems lack %q:\n%s", w, got)
		}
	}
}

func TestAgentFile(t *testing.T) {
	a, err := config.ParseAgent("agent.yaml", []byte(`
proxies: [127.0.0.1:6666, "https://10.0.0.2:6666"]
route: node1
backend: http://127.0.0.1:9001
contexts: [/app, /shop]
aliases: [localhost, shop.example.com]
interval: 2s
stop_timeout: 20s
metrics:
  - cpu:weight=2
  - "prometheus:url=http://127.0.0.1:9001/metrics,name=jobs,capacity=50"
history: 4
decay: 1.5
`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Route != "node1" || len(a.Proxies) != 2 || a.Interval != 2*time.Second || a.Decay != 1.5 || a.History != 4 ||
		len(a.Metrics) != 2 || a.Log.Level != "info" || a.Line("metrics[1]") != 11 {
		t.Errorf("agent file: %+v (metrics[1] on line %d)", a, a.Line("metrics[1]"))
	}

	_, err = config.ParseAgent("bad.yaml", []byte(`proxies: [nowhere]
route: "no route"
backend: localhost
contexts: [app]
decay: 0.5
history: many
`))
	got := ""
	if err != nil {
		got = err.Error()
	}
	for _, w := range []string{"bad.yaml:1: proxies[0]:", "bad.yaml:2: route:", "bad.yaml:3: backend:",
		"bad.yaml:4: contexts[0]:", "bad.yaml:5: decay:", "bad.yaml:6: history: want an integer"} {
		if !strings.Contains(got, w) {
			t.Errorf("problems lack %q:\n%s", w, got)
		}
	}
	if _, err := config.ParseAgent("tls.yaml", []byte("proxies: [h:1]\nroute: r\nbackend: http://h:1\ntls: {cert: /nonexistent.crt}\n")); err == nil ||
		!strings.Contains(err.Error(), "tls: cert and key go together") || !strings.Contains(err.Error(), "tls.cert:") {
		t.Errorf("agent TLS without a key, naming a missing file: %v", err)
	}
	if _, err := config.ParseAgent("none.yaml", []byte("route: r\nbackend: http://h:1\n")); err == nil ||
		!strings.Contains(err.Error(), "proxies: give the balancers") {
		t.Errorf("an agent without balancers: %v", err)
	}
}
