package agent_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/barkeep-lb/barkeep/agent"
)

// A Go service embeds the agent: it registers the service's node with a
// balancer, reports its load, counts its requests through Middleware and
// drains it with Shutdown. The balancer here is a stand-in that prints
// what it receives.
func Example() {
	registered := make(chan struct{})
	manager := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Println(strings.TrimSpace(r.Method + " " + r.URL.Path + " " + string(body)))
		if r.Method == "STATUS" {
			io.WriteString(w, "Type=STATUS-RSP&JVMRoute=node1&State=OK&id=1\n")
			close(registered)
		}
	}))
	defer manager.Close()

	ag, err := agent.New(agent.Options{
		Route:    "node1",
		Backend:  "http://127.0.0.1:8080", // where this service listens
		Contexts: []string{"/app"},
		Proxies:  []string{manager.Listener.Addr().String()},
		Metrics: []agent.MetricSpec{
			{Kind: agent.Static, Factor: 80}, // or cpu, busyness, requests ... with weights
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	handler := ag.Middleware(app) // serve this: go http.ListenAndServe("127.0.0.1:8080", handler)
	_ = handler

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- ag.Run(ctx) }()
	<-registered

	// On SIGTERM: drain, then stop.
	if err := ag.Shutdown(context.Background()); err != nil {
		fmt.Println(err)
	}
	cancel()
	<-done
	// Output:
	// INFO /
	// CONFIG / JVMRoute=node1&Host=127.0.0.1&Port=8080&StickySessionForce=No&Type=http
	// ENABLE-APP / JVMRoute=node1&Alias=localhost&Context=%2Fapp
	// STATUS / JVMRoute=node1&Load=80
	// DISABLE-APP / JVMRoute=node1&Alias=localhost&Context=%2Fapp
	// STOP-APP / JVMRoute=node1&Alias=localhost&Context=%2Fapp
	// REMOVE-APP / JVMRoute=node1&Alias=localhost&Context=%2Fapp
	// REMOVE-APP /* JVMRoute=node1
}

// The load a node reports: each metric's value ÷ capacity, weighted, then
// averaged over the periods with decay.
func ExampleHistory() {
	var h agent.History // 9 earlier periods, decay 2
	for _, samples := range [][]agent.Sample{
		{{Value: 0.5, Capacity: 1, Weight: 2}, {Value: 0, Capacity: 100, Weight: 1}},   // cpu half busy, no requests
		{{Value: 0.5, Capacity: 1, Weight: 2}, {Value: 300, Capacity: 100, Weight: 1}}, // requests beyond capacity
	} {
		l, _ := agent.Combine(samples)
		fmt.Printf("period load %.2f, averaged %.2f, Load=%d\n", l, h.Add(l), agent.Factor(h.Load()))
	}
	// Output:
	// period load 0.33, averaged 0.33, Load=67
	// period load 0.67, averaged 0.56, Load=44
}

// Metrics on the command line and in agent.yaml use this form.
func ExampleParseMetric() {
	m, err := agent.ParseMetric("prometheus:url=http://127.0.0.1:9000/metrics,name=jobs_queued,capacity=50,weight=2")
	fmt.Println(m.Kind, m.Name, m.Capacity, m.Weight, err)
	// Output: prometheus jobs_queued 50 2 <nil>
}
