package admin_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/admin"
)

// TestForeignHostsAreRefused: a browser tricked by DNS rebinding sends the
// attacker's name as Host; the page with its nonces must not be served to
// it, while the listener's own address, localhost and admin.hosts work.
func TestForeignHostsAreRefused(t *testing.T) {
	store, _, _ := setup(t)
	guarded := admin.New(store, admin.Options{Now: func() time.Time { return now }, Listen: "barkeep-admin.lan:8090", Hosts: []string{"lb.example.com"}})
	for _, tt := range []struct {
		host string
		want int
	}{
		{"attacker.example", 403},
		{"attacker.example:8090", 403},
		{"127.0.0.1:8090", 200},
		{"[::1]:8090", 200},
		{"10.1.2.3", 200},
		{"localhost:8090", 200},
		{"LOCALHOST.", 200},
		{"lb.example.com:8090", 200},
		{"barkeep-admin.lan:8090", 200},
		{"sub.lb.example.com", 403},
	} {
		for _, path := range []string{"/balancer-manager", "/api/v1/balancers", "/metrics"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			guarded.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("GET %s with Host %s = %d, want %d", path, tt.host, rec.Code, tt.want)
			}
			if tt.want == 403 && strings.Contains(rec.Body.String(), "nonce") {
				t.Errorf("refused page still shows a nonce")
			}
		}
	}
}

// TestChangesFromForeignPagesAreRefused: a change carries the nonce, and
// its Origin (else Referer), when the browser sends one, must name the
// listener; tools that send neither still work.
func TestChangesFromForeignPagesAreRefused(t *testing.T) {
	store, h, srv := setup(t)
	form := url.Values{"b": {"barcrawl"}, "w": {"http://127.0.0.1:9001"}, "w_lf": {"7"}, "nonce": {h.Nonce("barcrawl")}}
	for _, tt := range []struct {
		origin, referer string
		want            int
	}{
		{"https://attacker.example", "", 403},
		{"null", "", 403},
		{"", "https://attacker.example/page", 403},
		{srv.URL, "", 303},
		{"", srv.URL + "/balancer-manager?b=barcrawl", 303},
		{"", "", 303},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/balancer-manager", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		if tt.referer != "" {
			req.Header.Set("Referer", tt.referer)
		}
		before := store.Load().Version
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		changed := store.Load().Version != before
		if res.StatusCode != tt.want || changed != (tt.want == 303) {
			t.Errorf("POST with Origin %q Referer %q = %d (changed %v), want %d", tt.origin, tt.referer, res.StatusCode, changed, tt.want)
		}
	}
	// A GET change link (httpd style) from a foreign page is refused too.
	form.Set("w_lf", "9")
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/balancer-manager?"+form.Encode(), nil)
	req.Header.Set("Referer", "http://attacker.example/")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 || store.Load().Balancer("barcrawl").Member("http://127.0.0.1:9001").LoadFactor != 7 {
		t.Errorf("GET change from a foreign page = %d, loadfactor %d (want 403, still 7)", res.StatusCode, store.Load().Balancer("barcrawl").Member("http://127.0.0.1:9001").LoadFactor)
	}
}
