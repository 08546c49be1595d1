package health_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barkeep-lb/barkeep/ajp"
	"github.com/barkeep-lb/barkeep/internal/health"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

func okStatus() registry.StatusSet {
	var s registry.StatusSet
	s.Add(200, 399)
	return s
}

func storeWith(t *testing.T, checks ...*registry.HealthCheck) *registry.Store {
	t.Helper()
	b := &registry.Balancer{Name: "web", StickySessionSep: '.', MaxAttempts: -1}
	for i, c := range checks {
		u := &url.URL{Scheme: "http", Host: "10.0.0." + strconv.Itoa(i+1) + ":80"}
		b.Members = append(b.Members, &registry.Member{Name: u.String(), URL: u, Route: "m" + strconv.Itoa(i), LoadFactor: 1, Check: c})
	}
	store := registry.NewStore()
	if _, err := store.Update(func(d *registry.Draft) error { return d.PutBalancer(b) }); err != nil {
		t.Fatal(err)
	}
	return store
}

// stepUntil moves the fake clock a second at a time until cond holds.
func stepUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for range 600 {
		if cond() {
			return
		}
		time.Sleep(time.Second)
		synctest.Wait()
	}
	t.Fatal("condition not met within 10 minutes of fake time")
}

func TestFailsAndPassesMoveTheCFlag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		check := &registry.HealthCheck{Method: registry.CheckGET, URI: "/health", Interval: 10 * time.Second,
			Timeout: time.Second, Fails: 3, Passes: 2, Status: okStatus()}
		store := storeWith(t, check)
		m := store.Load().Balancer("web").Members[0]
		var probes atomic.Int32
		var failing atomic.Bool
		failing.Store(true)
		c := health.NewChecker(store, health.CheckerOptions{Prober: health.ProberFunc(func(context.Context, *registry.Member) error {
			probes.Add(1)
			if failing.Load() {
				return errors.New("500")
			}
			return nil
		})})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()

		stepUntil(t, func() bool { return probes.Load() == 2 })
		if m.Stats.HCFail.Load() || !m.Usable(time.Now().UnixNano()) {
			t.Fatal("member out after 2 failed checks; hcfails is 3")
		}
		stepUntil(t, func() bool { return probes.Load() == 3 })
		if !m.Stats.HCFail.Load() || m.Usable(time.Now().UnixNano()) {
			t.Fatal("member still in after 3 failed checks")
		}
		failing.Store(false)
		stepUntil(t, func() bool { return probes.Load() == 4 })
		if !m.Stats.HCFail.Load() {
			t.Fatal("member back after 1 good check; hcpasses is 2")
		}
		stepUntil(t, func() bool { return probes.Load() == 5 })
		if m.Stats.HCFail.Load() {
			t.Fatal("member still out after 2 good checks")
		}
		if at := m.Stats.RecoveredAt.Load(); at == 0 || time.Now().UnixNano()-at > int64(time.Second) {
			t.Error("recovery time not recorded for slow start")
		}
		cancel()
		<-done
	})
}

func TestFirstChecksAreSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var checks []*registry.HealthCheck
		for range 200 {
			checks = append(checks, &registry.HealthCheck{Method: registry.CheckTCP, Interval: 10 * time.Second, Timeout: time.Second, Fails: 1, Passes: 1})
		}
		store := storeWith(t, checks...)
		var mu sync.Mutex
		first := map[string]time.Time{}
		start := time.Now()
		c := health.NewChecker(store, health.CheckerOptions{Prober: health.ProberFunc(func(_ context.Context, m *registry.Member) error {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := first[m.Name]; !ok {
				first[m.Name] = time.Now()
			}
			return nil
		})})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		cancel()
		<-done
		perSecond := map[int64]int{}
		for _, at := range first {
			perSecond[int64(at.Sub(start)/time.Second)]++
		}
		if len(first) != 200 {
			t.Fatalf("%d of 200 members checked within one interval", len(first))
		}
		for sec, n := range perSecond {
			if n > 50 {
				t.Errorf("%d first checks in second %d; want them spread over the interval", n, sec)
			}
		}
	})
}

func member(rawURL string, check *registry.HealthCheck) *registry.Member {
	u, _ := url.Parse(rawURL)
	return &registry.Member{Name: u.String(), URL: u, Check: check, Stats: new(registry.Stats)}
}

func probe(t *testing.T, m *registry.Member) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	return health.NewProber().Probe(ctx, m)
}

func TestHTTPChecks(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database down", http.StatusInternalServerError)
	}))
	defer broken.Close()
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && r.URL.RawQuery == "deep=1" {
			io.WriteString(w, `{"status":"UP","db":"ok"}`)
			return
		}
		http.NotFound(w, r)
	}))
	defer healthy.Close()
	get := func(uri, body string, re *regexp.Regexp) *registry.HealthCheck {
		return &registry.HealthCheck{Method: registry.CheckGET, URI: uri, Status: okStatus(), Body: body, BodyRE: re}
	}
	tests := []struct {
		name string
		m    *registry.Member
		ok   bool
	}{
		{"TCP port open, app broken: TCP passes", member(broken.URL, &registry.HealthCheck{Method: registry.CheckTCP}), true},
		{"TCP port open, app broken: GET fails", member(broken.URL, get("/health", "", nil)), false},
		{"GET with body and regexp", member(healthy.URL, get("/health?deep=1", `"UP"`, regexp.MustCompile(`"db":"ok"`))), true},
		{"GET body lacks the text", member(healthy.URL, get("/health?deep=1", "DOWN", nil)), false},
		{"GET body fails the regexp", member(healthy.URL, get("/health?deep=1", "", regexp.MustCompile(`"db":"down"`))), false},
		{"GET 404", member(healthy.URL, get("/nope", "", nil)), false},
		{"HEAD", member(healthy.URL, &registry.HealthCheck{Method: registry.CheckHEAD, URI: "/health?deep=1", Status: okStatus()}), true},
		{"OPTIONS *", member(healthy.URL, &registry.HealthCheck{Method: registry.CheckOPTIONS, URI: "*", Status: okStatus()}), true},
		{"closed port", member("http://"+testnet.ClosedAddr(t), &registry.HealthCheck{Method: registry.CheckTCP}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := probe(t, tt.m); (err == nil) != tt.ok {
				t.Errorf("Probe = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestCPINGChecks(t *testing.T) {
	// An AJP port that accepts but never answers.
	silent := testnet.Serve(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	// An AJP port that answers CPING.
	alive := testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 16)
		if p, err := ajp.ReadPacket(bufio.NewReader(c), buf, ajp.MagicToContainer); err == nil && p[0] == ajp.CodeCPing {
			c.Write(ajp.AppendPacket(nil, ajp.MagicFromContainer, []byte{ajp.CodeCPong}))
		}
	})
	cping := &registry.HealthCheck{Method: registry.CheckCPING}
	if err := probe(t, member("ajp://"+silent, cping)); !errors.Is(err, ajp.ErrPing) {
		t.Errorf("CPING of a port that never answers: %v, want ErrPing", err)
	}
	if err := probe(t, member("ajp://"+alive, cping)); err != nil {
		t.Errorf("CPING of a live container: %v", err)
	}
}
