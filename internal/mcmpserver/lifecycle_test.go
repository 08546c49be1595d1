package mcmpserver_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

func alwaysUp(context.Context, string, string, time.Duration) error { return nil }

// call sends one MCMP message straight to the handler, from loopback.
func call(t *testing.T, srv *mcmpserver.Server, method, target, body string) answer {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return answer{status: rec.Code, typ: rec.Header().Get("Type"), mess: rec.Header().Get("Mess"), body: rec.Body.String()}
}

func TestRemovalTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := registry.NewStore()
		srv := mcmpserver.New(store, mcmpserver.Options{Probe: alwaysUp, WaitForRemove: 10 * time.Second, Log: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- srv.Run(ctx) }()

		call(t, srv, "CONFIG", "/", "JVMRoute=node1&Host=10.0.0.5&Port=8009&Type=http")
		call(t, srv, "ENABLE-APP", "/", "JVMRoute=node1&Alias=localhost&Context=%2Fapp")
		if a := call(t, srv, "REMOVE-APP", "/*", "JVMRoute=node1"); a.status != 200 || a.body != "" {
			t.Fatalf("REMOVE-APP /*: %+v", a)
		}
		// At once: contexts and aliases gone, node still listed, NOTOK, no commands.
		if info := call(t, srv, "INFO", "/", "").body; !strings.HasPrefix(info, "Node: [0],Name: node1,") || strings.Contains(info, "Context:") || strings.Contains(info, "Vhost:") {
			t.Errorf("INFO right after REMOVE-APP /*:\n%s", info)
		}
		if r, refs := store.Load().Match("/app/x", "", false); r != nil || refs != nil {
			t.Error("a removed node's context still matches")
		}
		if a := call(t, srv, "STATUS", "/", "JVMRoute=node1&Load=50"); !strings.Contains(a.body, "State=NOTOK") {
			t.Errorf("STATUS of a removed node: %+v", a)
		}
		if a := call(t, srv, "ENABLE-APP", "/", "JVMRoute=node1&Alias=localhost&Context=%2Fapp"); a.mess != `MEM: Can't read node with "node1" JVMRoute` {
			t.Errorf("ENABLE-APP of a removed node: %+v", a)
		}
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if store.Load().Node("node1") == nil {
			t.Fatal("node forgotten before wait_for_remove")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if store.Load().Node("node1") != nil || call(t, srv, "INFO", "/", "").body != "" {
			t.Fatal("node still listed after wait_for_remove")
		}
		if a := call(t, srv, "STATUS", "/", "JVMRoute=node1"); a.typ != "MEM" {
			t.Errorf("STATUS of a forgotten node: %+v", a)
		}

		// A worker restart: REMOVE-APP /* then CONFIG again revives the node at once.
		call(t, srv, "CONFIG", "/", "JVMRoute=node2&Host=10.0.0.6&Port=8009&Type=http")
		call(t, srv, "REMOVE-APP", "/*", "JVMRoute=node2")
		call(t, srv, "CONFIG", "/", "JVMRoute=node2&Host=10.0.0.6&Port=8009&Type=http")
		call(t, srv, "ENABLE-APP", "/", "JVMRoute=node2&Alias=localhost&Context=%2Fapp")
		call(t, srv, "STATUS", "/", "JVMRoute=node2&Load=50")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if n := store.Load().Node("node2"); n == nil || n.Removed {
			t.Fatal("revived node removed anyway")
		}
		if _, refs := store.Load().Match("/app", "", false); len(refs) != 1 || refs[0].Member == nil {
			t.Error("revived node not routed")
		}
		cancel()
		<-done
	})
}

func TestLBStatusWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := registry.NewStore()
		srv := mcmpserver.New(store, mcmpserver.Options{Probe: alwaysUp, LBStatusRecalc: 5 * time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- srv.Run(ctx) }()
		call(t, srv, "CONFIG", "/", "JVMRoute=a&Host=10.0.0.5&Port=8009&Type=http")
		call(t, srv, "STATUS", "/", "JVMRoute=a&Load=50")
		st := store.Load().Node("a").Stats
		st.Elected.Store(100)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if st.LBStatus.Load() != 2000 || st.OldElected.Load() != 100 {
			t.Errorf("after one window: lbstatus %d oldelected %d, want 100*1000/50 = 2000 and 100", st.LBStatus.Load(), st.OldElected.Load())
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if st.LBStatus.Load() != 0 {
			t.Errorf("an idle window: lbstatus %d, want 0 (history decays)", st.LBStatus.Load())
		}
		cancel()
		<-done
	})
}

func TestPersistAcrossRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mcmp.json")
	store := registry.NewStore()
	srv := mcmpserver.New(store, mcmpserver.Options{Probe: alwaysUp, Persist: file})
	for _, m := range [][3]string{
		{"CONFIG", "/", "JVMRoute=node1&Domain=dom1&Host=10.0.0.5&Port=8009&Type=http&StickySessionForce=No&StickySessionRemove=Yes&WaitWorker=3"},
		{"CONFIG", "/", "JVMRoute=node2&Balancer=shop&Host=10.0.0.6&Port=8080&Type=ajp&ping=5"},
		{"ENABLE-APP", "/", "JVMRoute=node1&Alias=default-host%2Clocalhost&Context=%2Fapp,%2F"},
		{"DISABLE-APP", "/", "JVMRoute=node2&Alias=shop.example.com&Context=%2Fcart"},
		{"STOP-APP", "/", "JVMRoute=node1&Alias=admin.example.com&Context=%2Fadmin"},
	} {
		if a := call(t, srv, m[0], m[1], m[2]); a.status != 200 {
			t.Fatalf("%v: %+v", m, a)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- srv.Run(ctx) }()
	cancel() // Run writes the file on its way out
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	before := call(t, srv, "DUMP", "/*", "").body

	store2 := registry.NewStore()
	srv2 := mcmpserver.New(store2, mcmpserver.Options{Probe: alwaysUp, Persist: file})
	if err := srv2.Restore(); err != nil {
		t.Fatal(err)
	}
	if after := call(t, srv2, "DUMP", "/*", "").body; after != before {
		t.Errorf("after restart DUMP:\n%s\nwant:\n%s", after, before)
	}
	if _, refs := store2.Load().Match("/app/x", "", false); len(refs) != 1 || refs[0].Member == nil {
		t.Errorf("restored context /app not routed: %v", refs)
	}
	if b := store2.Load().Balancer("mycluster"); b.NoFailover || !b.StickySessionRemove || b.Timeout != 3*time.Second {
		t.Errorf("restored balancer settings: %+v", b)
	}
	// A missing file is a first start, not an error.
	if err := mcmpserver.New(registry.NewStore(), mcmpserver.Options{Persist: file + ".none"}).Restore(); err != nil {
		t.Error(err)
	}
}
