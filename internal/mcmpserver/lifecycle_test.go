package mcmpserver_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barkeep-lb/barkeep/internal/fakeclock"
	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

func alwaysUp(context.Context, string, string, time.Duration) error { return nil }

// run starts srv.Run and returns the function that stops it and returns
// Run's error.
func run(t *testing.T, srv *mcmpserver.Server) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

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
		stop := run(t, srv)

		call(t, srv, "CONFIG", "/", "JVMRoute=node1&Host=10.0.0.5&Port=8009&Type=http")
		call(t, srv, "ENABLE-APP", "/", "JVMRoute=node1&Alias=localhost&Context=%2Fapp")
		if a := call(t, srv, "REMOVE-APP", "/*", "JVMRoute=node1"); a.status != 200 || a.body != "" {
			t.Fatalf("REMOVE-APP /*: %+v", a)
		}
		// At once: contexts and aliases gone, node still listed, NOTOK, no commands.
		if info := call(t, srv, "INFO", "/", "").body; !strings.HasPrefix(info, "Node: [0],Name: node1,") || strings.Contains(info, "Context:") || strings.Contains(info, "Vhost:") {
			t.Errorf("INFO right after REMOVE-APP /*:\n%s", info)
		}
		if tg := store.Load().Match("/app/x", "", false); tg != nil {
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
		if info := call(t, srv, "INFO", "/", "").body; !strings.HasPrefix(info, "Node: [0],Name: node1,") {
			t.Fatalf("INFO before wait_for_remove:\n%s", info)
		}
		// After wait_for_remove the row is listed as REMOVED (Load 0) until
		// it is purged; the route names no node any more.
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if info := call(t, srv, "INFO", "/", "").body; !strings.HasPrefix(info, "Node: [0],Name: REMOVED,Balancer: mycluster,LBGroup: ,") || !strings.HasSuffix(info, ",Load: 0\n") {
			t.Errorf("INFO after wait_for_remove:\n%s\nwant the row as Name: REMOVED", info)
		}
		if dump := call(t, srv, "DUMP", "/*", "").body; !strings.Contains(dump, "JVMRoute: REMOVED,") {
			t.Errorf("DUMP after wait_for_remove:\n%s", dump)
		}
		if page := call(t, srv, "GET", "/mod_cluster_manager", "").body; !strings.Contains(page, "Node REMOVED (") || strings.Contains(page, "Node node1") {
			t.Errorf("manager page after wait_for_remove does not list the row as REMOVED")
		}
		for _, m := range []string{"STATUS", "PING"} {
			if a := call(t, srv, m, "/", "JVMRoute=node1"); a.typ != "MEM" || a.mess != `MEM: Can't read node with "node1" JVMRoute` {
				t.Errorf("%s of a node listed as REMOVED: %+v", m, a)
			}
		}
		// 2 × wait_for_remove + 10 s after REMOVE-APP: purged, slot free.
		time.Sleep(18 * time.Second)
		synctest.Wait()
		if store.Load().Node("node1") == nil {
			t.Fatal("purged before 2 × wait_for_remove + 10s")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if store.Load().Node("node1") != nil || call(t, srv, "INFO", "/", "").body != "" {
			t.Fatal("row still listed after 2 × wait_for_remove + 10s")
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
		if tg := store.Load().Match("/app", "", false); tg == nil || len(tg.Rows) != 1 || tg.Rows[0].Member == nil {
			t.Error("revived node not routed")
		}
		stop()
	})
}

func TestLBStatusWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := registry.NewStore()
		srv := mcmpserver.New(store, mcmpserver.Options{Probe: alwaysUp, LBStatusRecalc: 5 * time.Second})
		stop := run(t, srv)
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
		stop()
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
	call(t, srv, "STATUS", "/", "JVMRoute=node1&Load=87")
	if err := run(t, srv)(); err != nil { // Run writes the file on its way out
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
	// The last reported load stays until the next STATUS (0 would make
	// the node a hot standby).
	if load := store2.Load().Node("node1").Stats.Load.Load(); load != 87 {
		t.Errorf("restored node1 has Load %d, want its last reported 87", load)
	}
	if tg := store2.Load().Match("/app/x", "", false); tg == nil || len(tg.Rows) != 1 || tg.Rows[0].Member == nil {
		t.Errorf("restored context /app not routed: %+v", tg)
	}
	if b := store2.Load().Balancer("mycluster"); b.NoFailover || !b.StickySessionRemove || b.Timeout != 3*time.Second {
		t.Errorf("restored balancer settings: %+v", b)
	}
	// A missing file is a first start, not an error.
	if err := mcmpserver.New(registry.NewStore(), mcmpserver.Options{Persist: file + ".none"}).Restore(); err != nil {
		t.Error(err)
	}
}

// TestNewRouteTakesOverRemovedSlot: a CONFIG with a new JVMRoute on the
// host:port of a node marked removed takes over that node's slot, whatever
// its Type (§3.1 step 3); the removed row is not listed beside it.
func TestNewRouteTakesOverRemovedSlot(t *testing.T) {
	srv := mcmpserver.New(registry.NewStore(), mcmpserver.Options{Probe: alwaysUp})
	call(t, srv, "CONFIG", "/", "JVMRoute=old&Host=10.0.0.5&Port=8009&Type=ajp")
	call(t, srv, "CONFIG", "/", "JVMRoute=other&Host=10.0.0.6&Port=8009&Type=ajp")
	call(t, srv, "REMOVE-APP", "/*", "JVMRoute=old")
	if a := call(t, srv, "CONFIG", "/", "JVMRoute=new&Host=10.0.0.5&Port=8009&Type=http"); a.status != 200 {
		t.Fatalf("CONFIG on the removed node's address: %+v", a)
	}
	info := call(t, srv, "INFO", "/", "").body
	if !strings.HasPrefix(info, "Node: [0],Name: new,") || !strings.Contains(info, "Node: [1],Name: other,") || strings.Count(info, "Node: ") != 2 {
		t.Errorf("INFO:\n%s\nwant new in slot 0, other in slot 1, and no row for old", info)
	}
}

// TestRouteOfRemovedRowRegistersAgain: once a row is listed as REMOVED,
// a CONFIG with its old JVMRoute registers a new node, in the same slot
// when the address is the same.
func TestRouteOfRemovedRowRegistersAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := mcmpserver.New(registry.NewStore(), mcmpserver.Options{Probe: alwaysUp, Log: slog.New(slog.DiscardHandler)})
		stop := run(t, srv)
		call(t, srv, "CONFIG", "/", "JVMRoute=a&Host=10.0.0.5&Port=8009&Type=ajp")
		call(t, srv, "CONFIG", "/", "JVMRoute=b&Host=10.0.0.6&Port=8009&Type=ajp")
		call(t, srv, "REMOVE-APP", "/*", "JVMRoute=a")
		call(t, srv, "REMOVE-APP", "/*", "JVMRoute=b")
		time.Sleep(11 * time.Second)
		synctest.Wait()
		call(t, srv, "CONFIG", "/", "JVMRoute=a&Host=10.0.0.5&Port=8009&Type=ajp")   // same address: slot 0
		call(t, srv, "CONFIG", "/", "JVMRoute=b&Host=10.0.0.7&Port=8009&Type=ajp")   // moved: a new slot
		call(t, srv, "ENABLE-APP", "/", "JVMRoute=b&Alias=localhost&Context=%2Fapp") // b is a live node again
		info := call(t, srv, "INFO", "/", "").body
		if !strings.HasPrefix(info, "Node: [0],Name: a,") || !strings.Contains(info, "Node: [1],Name: b,Balancer: mycluster,LBGroup: ,Host: 10.0.0.7,") || strings.Contains(info, "REMOVED") {
			t.Errorf("INFO:\n%s", info)
		}
		stop()
	})
}

// TestBareAsteriskTargetIsRefused: httpd answers 400 to "ENABLE-APP *"
// before mod_manager sees it; before, barkeep applied it node-wide.
func TestBareAsteriskTargetIsRefused(t *testing.T) {
	store := registry.NewStore()
	srv := mcmpserver.New(store, mcmpserver.Options{Probe: alwaysUp})
	call(t, srv, "CONFIG", "/", "JVMRoute=n1&Host=10.0.0.5&Port=8009&Type=ajp")
	call(t, srv, "DISABLE-APP", "/", "JVMRoute=n1&Alias=localhost&Context=%2Fapp")
	if a := call(t, srv, "ENABLE-APP", "*", "JVMRoute=n1"); a.status != 400 {
		t.Errorf("ENABLE-APP * = %d, want 400", a.status)
	}
	if st := store.Load().Node("n1").Contexts[0].State; st != registry.ContextDisabled {
		t.Errorf("after ENABLE-APP *: /app is %v, want still DISABLED", st)
	}
	if a := call(t, srv, "ENABLE-APP", "/*", "JVMRoute=n1"); a.status != 200 || store.Load().Node("n1").Contexts[0].State != registry.ContextEnabled {
		t.Errorf("ENABLE-APP /* = %d, want 200 and /app ENABLED", a.status)
	}
}

// TestDeadNodeIsRemoved: a node whose health checks keep failing while it
// serves nothing is marked removed after 61 windows of LBStatusRecalc
// (mod_proxy_cluster's 60 failed idle probes, about 5 minutes), then goes
// through the removal timeline; a node that still serves is kept.
func TestDeadNodeIsRemoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := registry.NewStore()
		srv := mcmpserver.New(store, mcmpserver.Options{Probe: alwaysUp, Log: slog.New(slog.DiscardHandler)})
		call(t, srv, "CONFIG", "/", "JVMRoute=dead&Host=10.0.0.5&Port=8009&Type=ajp")
		call(t, srv, "CONFIG", "/", "JVMRoute=busy&Host=10.0.0.6&Port=8009&Type=ajp")
		call(t, srv, "ENABLE-APP", "/", "JVMRoute=dead&Alias=localhost&Context=%2Fapp")
		dead, busy := store.Load().Node("dead").Stats, store.Load().Node("busy").Stats
		dead.HCFail.Store(true)
		busy.HCFail.Store(true)
		stop := run(t, srv)
		for range 60 {
			busy.Read.Add(100) // answers requests despite its failed checks
			time.Sleep(5 * time.Second)
		}
		synctest.Wait()
		if store.Load().Node("dead").Removed {
			t.Fatal("removed after 60 failed idle windows, want after 61")
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n := store.Load().Node("dead"); !n.Removed || len(n.Contexts) != 0 {
			t.Errorf("after 61 failed idle windows: removed %v, contexts %d", n.Removed, len(n.Contexts))
		}
		if store.Load().Node("busy").Removed {
			t.Error("a node that reads bytes was removed")
		}
		stop()
	})
}

// TestCorruptPersistFileIsMovedAside: a persist file cut short (a crash,
// a full disk) or edited into nonsense must not stop barkeep from
// starting: it is moved aside, logged at ERROR, and the manager starts
// empty.
func TestCorruptPersistFileIsMovedAside(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":         `{"balancers":[{"name":"mycluster","id":0`,
		"not JSON":          "\x00\x01garbage",
		"duplicate slots":   `{"balancers":[{"name":"mycluster","id":0,"sticky":true,"cookie":"JSESSIONID","path":"jsessionid"}],"nodes":[{"id":0,"jvmroute":"a","balancer":"mycluster","type":"ajp","host":"10.0.0.5","port":"8009"},{"id":0,"jvmroute":"b","balancer":"mycluster","type":"ajp","host":"10.0.0.6","port":"8009"}]}`,
		"unknown balancer":  `{"nodes":[{"id":0,"jvmroute":"a","balancer":"nowhere","type":"ajp","host":"10.0.0.5","port":"8009"}]}`,
		"bad context state": `{"balancers":[{"name":"mycluster"}],"nodes":[{"id":0,"jvmroute":"a","balancer":"mycluster","type":"ajp","host":"10.0.0.5","port":"8009","contexts":[{"id":0,"vhost":1,"path":"/app","state":9}]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "mcmp.json")
			if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			var log syncBuffer
			store := registry.NewStore()
			clock := fakeclock.New()
			srv := mcmpserver.New(store, mcmpserver.Options{Persist: file, Now: clock.Now, Log: slog.New(slog.NewTextHandler(&log, nil))})
			if err := srv.Restore(); err != nil {
				t.Fatalf("Restore: %v, want a start without the file's nodes", err)
			}
			if len(store.Load().Nodes()) != 0 {
				t.Error("nodes restored from a corrupt file")
			}
			aside := file + ".corrupt-20261121T120000Z"
			if got, err := os.ReadFile(aside); err != nil || string(got) != content {
				t.Errorf("the corrupt file was not moved to %s: %v", aside, err)
			}
			if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the corrupt file is still at %s", file)
			}
			if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "moved_to="+aside) {
				t.Errorf("log:\n%s\nwant an ERROR line naming %s", log.String(), aside)
			}
		})
	}
}
