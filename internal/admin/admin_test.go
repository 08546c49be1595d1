package admin_test

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/admin"
	"github.com/barkeep-lb/barkeep/internal/health"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func member(host, route string) *registry.Member {
	u := &url.URL{Scheme: "http", Host: host}
	return &registry.Member{Name: u.String(), URL: u, Route: route, LoadFactor: 1, Retry: time.Minute,
		ConnectionTimeout: 5 * time.Second, Timeout: time.Minute, SMax: 64, TTL: time.Minute}
}

func setup(t *testing.T) (*registry.Store, *admin.Handler, *httptest.Server) {
	t.Helper()
	store := registry.NewStore()
	_, err := store.Update(func(d *registry.Draft) error {
		err := d.PutBalancer(&registry.Balancer{
			Name: "barcrawl", StickySession: []string{"JSESSIONID", "jsessionid"}, StickySessionSep: '.', MaxAttempts: -1,
			Members: []*registry.Member{member("127.0.0.1:9001", "elm"), member("127.0.0.1:9002", "oak"), member("127.0.0.1:9003", "ash")},
		})
		d.SetRoutes([]*registry.Route{{Path: "/bar", Pass: true, BalancerName: "barcrawl", TargetPath: "/bar"}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h := admin.New(store, admin.Options{Now: func() time.Time { return now }, Version: "test"})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return store, h, srv
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// post submits a form without following the redirect.
func post(t *testing.T, u string, form url.Values) (int, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestManagerPageShowsBalancersAndMembers(t *testing.T) {
	store, h, srv := setup(t)
	elm := store.Load().Balancer("barcrawl").ByRoute("elm")
	elm.Stats.Elected.Store(42)
	elm.Stats.Read.Store(3 << 20)
	health.Fail(store.Load().Balancer("barcrawl").ByRoute("oak"), now.UnixNano())
	status, page := get(t, srv.URL+"/balancer-manager")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		"balancer://barcrawl", "JSESSIONID | jsessionid", "byrequests", "/bar",
		"http://127.0.0.1:9001", ">elm<", "<td>42</td>", "3.0M",
		"nonce=" + h.Nonce("barcrawl"),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	oakRow := regexp.MustCompile(`(?s)data-route="oak".*?</tr>`).FindString(page)
	if !strings.Contains(oakRow, `class="Err"`) {
		t.Errorf("member in error not shown as Err: %s", oakRow)
	}
}

func TestChangeWithNonceApplies(t *testing.T) {
	store, h, srv := setup(t)
	nonce := h.Nonce("barcrawl")
	status, body := post(t, srv.URL+"/balancer-manager", url.Values{
		"b": {"barcrawl"}, "w": {"http://127.0.0.1:9001"}, "nonce": {nonce},
		"w_lf": {"5"}, "w_ls": {"1"}, "w_wr": {"birch"}, "w_rr": {"oak"}, "w_status_D": {"1"}, "w_status_I": {"0"},
	})
	if status != http.StatusSeeOther {
		t.Fatalf("member change: status %d, want 303: %s", status, regexp.MustCompile(`class="err"[^<]*`).FindString(body))
	}
	m := store.Load().Balancer("barcrawl").Member("http://127.0.0.1:9001")
	if m.LoadFactor != 5 || m.LBSet != 1 || m.Route != "birch" || m.Redirect != "oak" || m.Status != registry.StatusDisabled || !m.StatusSince.Equal(now) {
		t.Errorf("member after change: %+v", m)
	}
	status, _ = post(t, srv.URL+"/balancer-manager", url.Values{
		"b": {"barcrawl"}, "nonce": {nonce},
		"b_lbm": {"bybusyness"}, "b_tmo": {"5"}, "b_max": {"2"}, "b_sforce": {"1"}, "b_ss": {"SESSION|session"},
	})
	if status != http.StatusSeeOther {
		t.Fatalf("balancer change: status %d, want 303", status)
	}
	b := store.Load().Balancer("barcrawl")
	if b.LBMethod != registry.ByBusyness || b.Timeout != 5*time.Second || b.MaxAttempts != 2 || !b.NoFailover ||
		strings.Join(b.StickySession, ",") != "SESSION,session" {
		t.Errorf("balancer after change: %+v", b)
	}
	// httpd's GET form works too.
	status, _ = get(t, srv.URL+"/balancer-manager?b=barcrawl&w=http://127.0.0.1:9002&w_lf=3&nonce="+nonce)
	if status != 200 || store.Load().Balancer("barcrawl").ByRoute("oak").LoadFactor != 3 {
		t.Errorf("GET change: status %d, loadfactor %d", status, store.Load().Balancer("barcrawl").ByRoute("oak").LoadFactor)
	}
}

func TestChangeWithoutNonceChangesNothing(t *testing.T) {
	store, h, srv := setup(t)
	before := store.Load().Version
	for _, nonce := range []string{"", "0123456789abcdef0123456789abcdef", h.Nonce("other")} {
		form := url.Values{"b": {"barcrawl"}, "w": {"http://127.0.0.1:9001"}, "w_lf": {"9"}, "w_status_S": {"1"}, "b_lbm": {"random"}}
		if nonce != "" {
			form.Set("nonce", nonce)
		}
		status, body := post(t, srv.URL+"/balancer-manager", form)
		if status != http.StatusForbidden || !strings.Contains(body, "nonce missing or wrong; nothing changed") {
			t.Errorf("nonce %q: status %d, want 403 saying nothing changed", nonce, status)
		}
	}
	if store.Load().Version != before {
		t.Fatal("a change without a valid nonce was applied")
	}
}

func TestInvalidChangeChangesNothing(t *testing.T) {
	store, h, srv := setup(t)
	before := store.Load()
	for _, form := range []url.Values{
		{"w": {"http://127.0.0.1:9001"}, "w_lf": {"2"}, "w_wr": {"oak"}},  // route taken
		{"w": {"http://127.0.0.1:9001"}, "w_lf": {"2"}, "w_rr": {"nope"}}, // redirect to nothing
		{"w": {"http://127.0.0.1:9001"}, "w_lf": {"0"}},                   // out of range
		{"w": {"http://127.0.0.1:9999"}, "w_lf": {"2"}},                   // no such member
		{"b_lbm": {"roundrobin"}},                                         // unknown method
		{"w": {"http://127.0.0.1:9001"}, "w_status_D": {"maybe"}},         // not 0/1
	} {
		form.Set("b", "barcrawl")
		form.Set("nonce", h.Nonce("barcrawl"))
		if status, body := post(t, srv.URL+"/balancer-manager", form); status != http.StatusBadRequest || !strings.Contains(body, "nothing changed") {
			t.Errorf("%v: status %d, want 400 nothing changed", form, status)
		}
	}
	if store.Load() != before {
		t.Fatal("an invalid change was applied")
	}
}

func TestEditFormsNeedTheNonce(t *testing.T) {
	_, h, srv := setup(t)
	_, page := get(t, srv.URL+"/balancer-manager?b=barcrawl&w=http://127.0.0.1:9001")
	if strings.Contains(page, `id="edit-member"`) {
		t.Error("edit form shown without the nonce")
	}
	_, page = get(t, srv.URL+"/balancer-manager?b=barcrawl&w=http://127.0.0.1:9001&nonce="+h.Nonce("barcrawl"))
	if !strings.Contains(page, `id="edit-member"`) || !strings.Contains(page, `name="nonce" value="`+h.Nonce("barcrawl")+`"`) {
		t.Error("member edit form missing or without the nonce")
	}
	_, page = get(t, srv.URL+"/balancer-manager?b=barcrawl&nonce="+h.Nonce("barcrawl"))
	if !strings.Contains(page, `id="edit-balancer"`) {
		t.Error("balancer edit form missing")
	}
}

func TestManagerXML(t *testing.T) {
	store, _, srv := setup(t)
	health.Fail(store.Load().Balancer("barcrawl").ByRoute("ash"), now.UnixNano())
	status, body := get(t, srv.URL+"/balancer-manager?xml")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var doc struct {
		Balancers []struct {
			Name    string `xml:"name"`
			Method  string `xml:"lbmethod"`
			Sticky  string `xml:"stickysession"`
			Workers []struct {
				Name       string `xml:"name"`
				Route      string `xml:"route"`
				Status     string `xml:"status"`
				LoadFactor int    `xml:"loadfactor"`
			} `xml:"workers>worker"`
		} `xml:"balancers>balancer"`
	}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, body)
	}
	if len(doc.Balancers) != 1 || doc.Balancers[0].Name != "balancer://barcrawl" || doc.Balancers[0].Method != "byrequests" ||
		doc.Balancers[0].Sticky != "JSESSIONID|jsessionid" || len(doc.Balancers[0].Workers) != 3 {
		t.Fatalf("XML: %+v", doc)
	}
	if w := doc.Balancers[0].Workers[2]; w.Route != "ash" || w.Status != "Err" || w.LoadFactor != 1 {
		t.Errorf("worker ash: %+v", w)
	}
	if !strings.Contains(body, "<httpd:manager xmlns:httpd='http://httpd.apache.org'>") {
		t.Error("XML does not use httpd's namespace")
	}
}

func TestAPI(t *testing.T) {
	store, _, srv := setup(t)
	health.Fail(store.Load().Balancer("barcrawl").ByRoute("oak"), now.UnixNano())
	status, body := get(t, srv.URL+"/api/v1/balancers")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var doc struct {
		Version   uint64
		Balancers []admin.BalancerView
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Balancers) != 1 || len(doc.Balancers[0].Members) != 3 || doc.Balancers[0].MaxAttempts != 2 {
		t.Fatalf("API: %s", body)
	}
	oak := doc.Balancers[0].Members[1]
	if oak.Route != "oak" || oak.Status != "E" || oak.StatusText != "Err" || oak.Usable || oak.Errors != 1 {
		t.Errorf("oak in the API: %+v", oak)
	}
	if status, _ := get(t, srv.URL+"/api/v1/balancers/barcrawl"); status != 200 {
		t.Errorf("one balancer: %d", status)
	}
	if status, _ := get(t, srv.URL+"/api/v1/balancers/none"); status != 404 {
		t.Errorf("unknown balancer: %d, want 404", status)
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	store, _, srv := setup(t)
	store.Load().Balancer("barcrawl").ByRoute("elm").Stats.Elected.Store(7)
	if status, body := get(t, srv.URL+"/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", status, body)
	}
	_, body := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`barkeep_member_requests_total{balancer="barcrawl",member="http://127.0.0.1:9001",route="elm"} 7`,
		`barkeep_member_usable{balancer="barcrawl",member="http://127.0.0.1:9002",route="oak"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
