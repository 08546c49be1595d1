// Package healthchecks runs the health-checks example as its README does.
package healthchecks

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/exampletest"
)

func TestHealthChecksExample(t *testing.T) {
	barkeep := exampletest.Build(t, "../../cmd/barkeep")
	backend := exampletest.Build(t, "../backend")
	dir := t.TempDir()
	ports := map[string]string{}
	for _, p := range []string{"8000", "8090", "9001", "9002", "9003"} {
		ports["127.0.0.1:"+p] = "127.0.0.1:" + exampletest.FreePort(t)
	}
	cfg := exampletest.Copy(t, dir, ports, "barkeep.yaml")[0]
	for i := 1; i <= 3; i++ {
		addr := ports[fmt.Sprintf("127.0.0.1:900%d", i)]
		exampletest.Start(t, dir, nil, backend, "-listen", addr, "-name", fmt.Sprintf("node%d", i))
	}
	front := "http://" + ports["127.0.0.1:8000"]
	exampletest.Start(t, dir, nil, barkeep, "serve", "--config", cfg)
	c := &http.Client{Timeout: 5 * time.Second}

	served := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			_, body, err := exampletest.Get(c, front+"/")
			if err != nil {
				got["error"]++
				continue
			}
			node, _, _ := strings.Cut(body, " ")
			got[node]++
		}
		return got
	}
	exampletest.Eventually(t, 20*time.Second, func() error {
		if got := served(6); got["node1"] != 2 || got["node2"] != 2 || got["node3"] != 2 {
			return fmt.Errorf("6 requests went %v, want 2 to each node", got)
		}
		return nil
	})

	if _, _, err := exampletest.Get(c, "http://"+ports["127.0.0.1:9002"]+"/health"); err != nil {
		t.Fatal(err)
	}
	res, err := c.Post("http://"+ports["127.0.0.1:9002"]+"/health/down", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// Two failed checks one second apart: out within about 3 s.
	exampletest.Eventually(t, 10*time.Second, func() error {
		if got := served(6); got["node2"] != 0 || got["error"] != 0 {
			return fmt.Errorf("node2 still served %d of 6 after its health went down", got["node2"])
		}
		return nil
	})
	res, err = c.Post("http://"+ports["127.0.0.1:9002"]+"/health/up", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	exampletest.Eventually(t, 20*time.Second, func() error {
		if got := served(30); got["node2"] == 0 {
			return fmt.Errorf("node2 not back: %v", got)
		}
		return nil
	})
}
