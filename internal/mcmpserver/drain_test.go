package mcmpserver_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// TestStopAppWaitsForTheLastResponse plays the Java worker's drain: a
// request is in flight, Tomcat finishes it and the worker re-sends
// STOP-APP at once, while the balancer is still relaying the response.
// The answer must wait for the response to leave (Requests=0), and a
// request that never ends must not hold the answer beyond stop_app_wait.
func TestStopAppWaitsForTheLastResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := registry.NewStore()
		srv := mcmpserver.New(store, mcmpserver.Options{Probe: alwaysUp, Log: slog.New(slog.DiscardHandler)})
		call(t, srv, "CONFIG", "/", "JVMRoute=node1&Host=10.0.0.5&Port=8009&Type=ajp")
		call(t, srv, "ENABLE-APP", "/", "JVMRoute=node1&Alias=default-host%2Clocalhost&Context=%2Fapp")
		row := store.Load().Node("node1").Contexts[0]
		stop := "JVMRoute=node1&Alias=default-host%2Clocalhost&Context=%2Fapp"

		// The proxy counts a request when it chooses the context and ends
		// it when the member has sent its whole response, 1 ms from now.
		row.Requests.Add(1)
		go func() {
			time.Sleep(time.Millisecond)
			row.EndRequest()
		}()
		start := time.Now()
		a := call(t, srv, "STOP-APP", "/", stop)
		if want := "Type=STOP-APP-RSP&JvmRoute=node1&Alias=default-host,localhost&Context=/app&Requests=0\n"; a.body != want {
			t.Errorf("STOP-APP right after the member finished = %q, want %q", a.body, want)
		}
		if waited := time.Since(start); waited != time.Millisecond {
			t.Errorf("answered after %v, want as soon as the response left (1ms)", waited)
		}

		// A request that does not end: answered after the default 500ms.
		row.Requests.Add(1)
		start = time.Now()
		a = call(t, srv, "STOP-APP", "/", stop)
		if !strings.HasSuffix(a.body, "&Requests=1\n") || time.Since(start) != 500*time.Millisecond {
			t.Errorf("STOP-APP with a request that never ends = %q after %v, want Requests=1 after 500ms", a.body, time.Since(start))
		}
		row.EndRequest()
	})
}

// TestStopAppWithoutWait: a negative stop_app_wait answers at once.
func TestStopAppWithoutWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := registry.NewStore()
		srv := mcmpserver.New(store, mcmpserver.Options{Probe: alwaysUp, StopAppWait: -1})
		call(t, srv, "CONFIG", "/", "JVMRoute=node1&Host=10.0.0.5&Port=8009&Type=ajp")
		call(t, srv, "ENABLE-APP", "/", "JVMRoute=node1&Alias=localhost&Context=%2Fapp")
		store.Load().Node("node1").Contexts[0].Requests.Add(2)
		start := time.Now()
		if a := call(t, srv, "STOP-APP", "/", "JVMRoute=node1&Alias=localhost&Context=%2Fapp"); !strings.HasSuffix(a.body, "&Requests=2\n") || time.Since(start) != 0 {
			t.Errorf("STOP-APP = %q after %v, want Requests=2 at once", a.body, time.Since(start))
		}
	})
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLifecycleIsLogged: every *-APP command an operator would want to
// see in the log gives one INFO line with the node, alias, context and the
// requests in flight.
func TestLifecycleIsLogged(t *testing.T) {
	var log syncBuffer
	store := registry.NewStore()
	srv := mcmpserver.New(store, mcmpserver.Options{Probe: alwaysUp, Log: slog.New(slog.NewTextHandler(&log, nil)), StopAppWait: -1})
	call(t, srv, "CONFIG", "/", "JVMRoute=node1&Host=10.0.0.5&Port=8009&Type=ajp")
	app := "JVMRoute=node1&Alias=default-host%2Clocalhost&Context=%2Fapp"
	for _, tt := range []struct{ method, target, body, want string }{
		{"ENABLE-APP", "/", app, `msg="context enabled" component=mcmp route=node1 alias=default-host,localhost context=/app requests=0`},
		{"DISABLE-APP", "/", app, `msg="context disabled" component=mcmp route=node1 alias=default-host,localhost context=/app requests=0`},
		{"STOP-APP", "/", app, `msg="context stopped" component=mcmp route=node1 alias=default-host,localhost context=/app requests=3`},
		{"REMOVE-APP", "/", app, `msg="context removed" component=mcmp route=node1 alias=default-host,localhost context=/app requests=3`},
		{"STOP-APP", "/*", "JVMRoute=node1", `msg="node contexts stopped" component=mcmp route=node1 requests=0`},
		{"REMOVE-APP", "/*", "JVMRoute=node1", `msg="node removed; forgotten after wait_for_remove" component=mcmp route=node1 requests=0`},
	} {
		if tt.method == "STOP-APP" && tt.target == "/" {
			store.Load().Node("node1").Contexts[0].Requests.Add(3)
		}
		before := strings.Count(log.String(), "\n")
		if a := call(t, srv, tt.method, tt.target, tt.body); a.status != 200 {
			t.Fatalf("%s %s: %+v", tt.method, tt.target, a)
		}
		lines := strings.Split(strings.TrimSpace(log.String()), "\n")[before:]
		if len(lines) != 1 || !strings.Contains(lines[0], "level=INFO "+tt.want) {
			t.Errorf("%s %s logged %q, want one INFO line with %s", tt.method, tt.target, lines, tt.want)
		}
	}
}
