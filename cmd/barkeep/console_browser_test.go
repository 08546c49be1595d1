package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium returns the path of a Chromium to drive, or "". With
// BARKEEP_BROWSER set (as .ci/run does) a missing Chromium fails the test
// instead of skipping it.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BARKEEP_BROWSER") != "" {
		t.Fatal("BARKEEP_BROWSER is set but no chromium is installed (apt-get install chromium)")
	}
	t.Skip("no chromium; set BARKEEP_BROWSER=1 to make this a failure")
	return ""
}

// TestConsoleInBrowser drives the admin console of `barkeep demo` in
// headless Chromium: the page lists the demo's pubs and updates itself, a
// click on "drain" changes the member's state on the page and in the API,
// and a screenshot is written to the test's temporary directory.
func TestConsoleInBrowser(t *testing.T) {
	chrome := chromium(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		<-exit
	}()
	front := waitForMatch(t, &stdout, regexp.MustCompile(`(http://127\.0\.0\.1:\d+/bar/)\n`))[1]
	adminURL := waitForMatch(t, &stdout, regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/balancer-manager`))[1]
	for range 9 {
		visit(t, &http.Client{}, front)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1366, 900),
		chromedp.UserDataDir(t.TempDir()))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var mu sync.Mutex
	var jsErrors []string
	err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			jsErrors = append(jsErrors, e.ExceptionDetails.Text+" "+e.ExceptionDetails.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()
	poll := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second))
	}
	cell := func(route, f string) string {
		return `document.querySelector('tr.member[data-route="` + route + `"] [data-f="` + f + `"]').textContent`
	}

	err = chromedp.Do(tctx,
		chromedp.Navigate(adminURL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`tr.member[data-route="ash"]`)),
		// The page updates itself: a request rate appears once the script
		// has polled the API twice.
		poll(cell("elm", "reqrate")+` !== "–"`),
	)
	if err != nil {
		t.Fatalf("console page: %v", err)
	}
	// It polls the API about once a second: three more polls take at
	// least two seconds and come within ten.
	polls := `performance.getEntriesByType("resource").filter(e => e.name.endsWith("/api/v1/balancers")).length`
	n0, err := chromedp.Run(tctx, chromedp.Evaluate[int](polls))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = chromedp.Do(tctx, chromedp.Poll[chromedp.Void](polls+` >= `+strconv.Itoa(n0+3), chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || time.Since(start) < 1500*time.Millisecond {
		t.Fatalf("the page polled the API 3 times in %v (%v); want about once a second", time.Since(start), err)
	}
	// Everything it loaded came from the admin listener.
	loaded, err := chromedp.Run(tctx, chromedp.Evaluate[[]string](`performance.getEntriesByType("resource").map(e => e.name)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range loaded {
		if !strings.HasPrefix(u, adminURL+"/") {
			t.Errorf("the console loaded %s from outside the admin listener", u)
		}
	}
	routes, err := chromedp.Run(tctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('section[data-balancer="barcrawl"] tr.member')].map(r => r.dataset.route)`))
	if err != nil || !slices.Equal(routes, []string{"elm", "oak", "ash"}) {
		t.Fatalf("console lists members %v (%v), want the demo's elm, oak, ash", routes, err)
	}
	if elm, _ := chromedp.Run(tctx, chromedp.Evaluate[string](cell("elm", "elected"))); elm != "3" {
		t.Errorf("elm's requests on the page: %q, want 3 of the 9 visits", elm)
	}

	// Traffic after the page loaded shows without a reload.
	for range 3 {
		visit(t, &http.Client{}, front)
	}
	err = chromedp.Do(tctx,
		poll(cell("elm", "elected")+` === "4"`),
		// Each member has its request and error sparklines drawn.
		poll(`document.querySelectorAll('tr.member[data-route="elm"] svg[data-spark] polyline').length === 2`),
		chromedp.Click(chromedp.CSS(`tr.member[data-route="oak"] button[data-action="drain"]`)),
		poll(cell("oak", "status")+`.includes("Drn")`),
	)
	if err != nil {
		t.Fatalf("live update and drain click: %v", err)
	}
	// The explain form: a session for the draining oak still goes to oak.
	err = chromedp.Do(tctx,
		chromedp.SetValue(chromedp.CSS(`#explain input[name="url"]`), "/bar/"),
		chromedp.SetValue(chromedp.CSS(`#explain input[name="cookie"]`), "JSESSIONID=abc.oak"),
		chromedp.Click(chromedp.CSS(`#explain button`)),
		poll(`document.querySelector("#explanation tr.chosen") !== null`),
	)
	if err != nil {
		t.Fatalf("explain form: %v", err)
	}
	summary, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`document.querySelector("#explanation p").textContent`))
	chosen, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`document.querySelector("#explanation tr.chosen td:nth-child(2)").textContent`))
	if !strings.HasPrefix(summary, "sticky") || chosen != "oak" {
		t.Errorf("explain form: %q, chosen row %q; want sticky to oak", summary, chosen)
	}
	shot, err := chromedp.Run(tctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	png := filepath.Join(t.TempDir(), "console.png")
	if err := os.WriteFile(png, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", png, len(shot))
	if dir := os.Getenv("BARKEEP_SCREENSHOT_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "console.png"), shot, 0o644)
	}

	res, err := http.Get(adminURL + "/api/v1/balancers/barcrawl/members/oak")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var oak struct{ Status, State string }
	if err := json.NewDecoder(res.Body).Decode(&oak); err != nil || oak.Status != "N" || oak.State != "draining" {
		t.Fatalf("oak in the API after the click: %+v %v, want status N, state draining", oak, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(jsErrors) > 0 {
		t.Errorf("script errors on the page:\n%s", strings.Join(jsErrors, "\n"))
	}
}
