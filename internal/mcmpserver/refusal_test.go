package mcmpserver_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barkeep-lb/barkeep/internal/fakeclock"
	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// TestRefusalsAreLoggedOncePerMinute: a worker repeating a bad message
// gets one WARN line per node and reason per minute, the next line says
// how many were held back, and no line is longer than 1 KiB however long
// the message.
func TestRefusalsAreLoggedOncePerMinute(t *testing.T) {
	var log syncBuffer
	clock := fakeclock.New()
	srv := mcmpserver.New(registry.NewStore(), mcmpserver.Options{Probe: alwaysUp, Now: clock.Now,
		Log: slog.New(slog.NewTextHandler(&log, nil))})
	lines := func() []string { return strings.Split(strings.TrimSpace(log.String()), "\n") }

	for range 5 {
		if a := call(t, srv, "ENABLE-APP", "/", "JVMRoute=ghost&Alias=a&Context=/x"); a.status != 500 || a.body != "MEM: Can't read node with \"ghost\" JVMRoute\n" {
			t.Fatalf("refusal answer %+v; want the Mess once as the body", a)
		}
	}
	call(t, srv, "STATUS", "/", "JVMRoute=other&Load=5") // another node: its own line
	if got := lines(); len(got) != 2 || !strings.Contains(got[0], `route=ghost`) || strings.Contains(got[0], "err=") {
		t.Fatalf("after 5 refusals for ghost and 1 for other:\n%s", strings.Join(got, "\n"))
	}
	clock.Advance(time.Minute)
	call(t, srv, "ENABLE-APP", "/", "JVMRoute=ghost&Alias=a&Context=/x")
	if got := lines(); len(got) != 3 || !strings.Contains(got[2], "repeated=4") {
		t.Errorf("a minute later: %q, want a third line with repeated=4", got[2:])
	}

	// 40 KB of hostile key: refused, logged once, cut.
	long := strings.Repeat("k", 40000)
	a := call(t, srv, "STATUS", "/", "JVMRoute=x&"+long+"=1")
	if a.status != 500 || len(a.mess) > 1024 {
		t.Errorf("STATUS with a 40 KB key: %d, Mess of %d bytes", a.status, len(a.mess))
	}
	for _, l := range lines() {
		if len(l) > 1024 {
			t.Errorf("log line of %d bytes: %.80s...", len(l), l)
		}
	}
}

// TestHeldRefusalsAreCounted: Run logs the count of refusals held back
// when the worker stops sending before the minute is over.
func TestHeldRefusalsAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log syncBuffer
		srv := mcmpserver.New(registry.NewStore(), mcmpserver.Options{Probe: alwaysUp, Log: slog.New(slog.NewTextHandler(&log, nil))})
		stop := run(t, srv)
		for range 3 {
			call(t, srv, "STATUS", "/", "JVMRoute=ghost&Load=5")
		}
		time.Sleep(61 * time.Second)
		synctest.Wait()
		stop()
		got := strings.Split(strings.TrimSpace(log.String()), "\n")
		if len(got) != 2 || !strings.Contains(got[1], "node=ghost") || !strings.Contains(got[1], "repeated=2") {
			t.Errorf("log:\n%s\nwant the refusal, then a line with repeated=2", log.String())
		}
	})
}

// TestOversizedMessageIsRefused: a body longer than max_message_size is
// refused whole; before, the cut body registered port 17 for 17002.
func TestOversizedMessageIsRefused(t *testing.T) {
	store := registry.NewStore()
	srv := mcmpserver.New(store, mcmpserver.Options{Probe: alwaysUp, MaxMessageSize: 1024})
	config := func(size int) string { // a CONFIG of size bytes ending in &Port=17002
		head, tail := "JVMRoute=n1&Host=10.0.0.5&X=", "&Port=17002"
		return head + strings.Repeat("y", size-len(head)-len(tail)) + tail
	}
	body := config(1030)
	a := call(t, srv, "CONFIG", "/", body)
	if a.status != 500 || a.typ != "MEM" || store.Load().Node("n1") != nil {
		t.Fatalf("CONFIG of %d bytes, limit 1024: %+v, node registered: %v", len(body), a, store.Load().Node("n1") != nil)
	}
	// Exactly at the limit is fine.
	body = config(1024)
	req := httptest.NewRequest("CONFIG", "/", strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if n := store.Load().Node("n1"); rec.Code != 200 || n == nil || n.Port != "17002" {
		t.Errorf("CONFIG of %d bytes = %d %s", len(body), rec.Code, rec.Header().Get("Mess"))
	}
}

// TestStatusProbeEndsWithTheWorker: the probe a STATUS triggers stops when
// the worker hangs up, instead of running to its timeout.
func TestStatusProbeEndsWithTheWorker(t *testing.T) {
	started, ended := make(chan struct{}), make(chan error, 1)
	probe := func(ctx context.Context, _, _ string, _ time.Duration) error {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return ctx.Err()
	}
	srv := mcmpserver.New(registry.NewStore(), mcmpserver.Options{Probe: probe})
	mgr := httptest.NewServer(srv)
	t.Cleanup(mgr.Close)
	call(t, srv, "CONFIG", "/", "JVMRoute=n1&Host=10.0.0.5&Port=8009&Type=ajp")

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "STATUS", mgr.URL+"/", strings.NewReader("JVMRoute=n1&Load=50"))
	go func() {
		if res, err := mgr.Client().Do(req); err == nil {
			res.Body.Close()
		}
	}()
	<-started
	cancel() // the worker hangs up
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("probe ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the probe still runs 10s after the worker hung up")
	}
}
