package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/barkeep-lb/barkeep/agent"
	"github.com/barkeep-lb/barkeep/internal/config"
)

func newAgentCmd(stderr io.Writer) *cobra.Command {
	var file, logFormat string
	var advertise bool
	var adv config.AgentAdvertise
	var c config.Agent
	cmd := &cobra.Command{
		Use:   "agent --backend URL --route NAME (--proxy HOST:PORT ... | --advertise)",
		Short: "Register a backend with balancers over MCMP and report its load (a mod_cluster worker sidecar)",
		Long: `Register one backend (any HTTP or AJP server) as a node with one or more
balancers over MCMP, as mod_cluster's Java worker does: INFO, CONFIG, ENABLE-APP
for each context, then STATUS with the node's load every interval. The load
comes from the metrics (--metric, default cpu): each metric's value ÷ its
capacity, weighted, averaged over the last periods with decay; Load is 100 for
idle down to 1 for saturated. While the backend does not answer an HTTP request
(or, for ajp and h2c, a TCP connection), the node reports Load -1.

SIGTERM and SIGINT drain the node: DISABLE-APP (no new sessions), STOP-APP until
the balancers count no request in flight (at most --stop-timeout), REMOVE-APP;
then the agent exits 0. The backend itself is not stopped.

Metrics, --metric KIND[:key=value,...] (repeatable): cpu (load average per
core), mem (system memory in use), prometheus (a gauge, or a counter's rate per
second, from the backend's metrics endpoint: url=, name=, type=gauge|counter),
static (factor=0..100, the Load every period; 0 is hot standby). Keys weight=
(default 1) and capacity= (the value that is full load; required for
prometheus).`,
		Example: `  barkeep agent --proxy 127.0.0.1:6666 --route node1 --backend http://127.0.0.1:9001 --context /app
  barkeep agent --advertise --route node2 --backend http://127.0.0.1:9002 \
      --metric cpu:weight=2 --metric prometheus:url=http://127.0.0.1:9002/metrics,name=jobs_queued,capacity=50
  barkeep agent --config agent.yaml`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file != "" {
				fromFile, err := config.LoadAgent(file)
				if err != nil {
					return err
				}
				c = mergeAgentFlags(fromFile, &c, cmd.Flags())
			} else if c.Log == (config.Log{}) {
				c.Log = config.Log{Format: "text", Level: "info"}
			}
			if advertise {
				a := adv
				c.Advertise = &a
			}
			opts, err := agentOptions(&c)
			if err != nil {
				return err
			}
			log := newLogger(stderr, c.Log, logFormat)
			opts.Log = log
			return runAgent(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "config", "c", "", "agent file (YAML; the keys are these flags' names, see docs/agent.md); flags override it")
	f.StringArrayVar(&c.Proxies, "proxy", nil, "a balancer's manager listener, host:port or https://host:port (repeatable)")
	f.BoolVar(&advertise, "advertise", false, "register with every balancer heard advertising on the multicast group")
	f.StringVar(&adv.Group, "advertise-group", "", "advertise multicast group (default 224.0.1.105:23364)")
	f.StringVar(&adv.Interface, "advertise-interface", "", "network interface to listen for advertise datagrams on")
	f.StringVar(&adv.SecurityKey, "advertise-key", "", "the balancers' advertise security key")
	f.StringVar(&c.Route, "route", "", "the node's route (JVMRoute), as in its session ids")
	f.StringVar(&c.Backend, "backend", "", "the application's own address, scheme://host:port (http, https, ajp, h2c)")
	f.StringArrayVar(&c.Contexts, "context", nil, `application path served by the node (repeatable; default "/")`)
	f.StringArrayVar(&c.Aliases, "alias", nil, `virtual-host name of the contexts (repeatable; default "localhost")`)
	f.StringVar(&c.Balancer, "balancer", "", "balancer to join (default: the balancer's own default)")
	f.StringVar(&c.Domain, "domain", "", "load-balancing group (domain) of the node")
	f.DurationVar(&c.Interval, "interval", 0, "STATUS period (default 10s)")
	f.DurationVar(&c.StopTimeout, "stop-timeout", 0, "longest drain on SIGTERM (default 10s)")
	f.DurationVar(&c.NodeTimeout, "node-timeout", 0, "how long the balancer waits for the backend's answer (default: the balancer's)")
	f.StringArrayVar(&c.Metrics, "metric", nil, "load metric KIND[:key=value,...] (repeatable; default cpu)")
	f.StringVar(&c.TLS.CA, "tls-ca", "", "PEM file of the CA that signed https:// managers' certificates (default: the system's)")
	f.StringVar(&c.TLS.Cert, "tls-cert", "", "PEM client certificate for managers that require one")
	f.StringVar(&c.TLS.Key, "tls-key", "", "PEM key of --tls-cert")
	f.IntVar(&c.History, "history", 0, "earlier periods the load averages over (default 9; -1 none)")
	f.Float64Var(&c.Decay, "decay", 0, "decay factor of earlier periods (default 2)")
	addLogFormatFlag(cmd, &logFormat)
	return cmd
}

// mergeAgentFlags returns file's settings with the flags given on the
// command line (from flags) put over them.
func mergeAgentFlags(file, flags *config.Agent, set *pflag.FlagSet) config.Agent {
	c := *file
	for name, apply := range map[string]func(){
		"proxy": func() { c.Proxies = flags.Proxies }, "route": func() { c.Route = flags.Route },
		"backend": func() { c.Backend = flags.Backend }, "context": func() { c.Contexts = flags.Contexts },
		"alias": func() { c.Aliases = flags.Aliases }, "balancer": func() { c.Balancer = flags.Balancer },
		"domain": func() { c.Domain = flags.Domain }, "interval": func() { c.Interval = flags.Interval },
		"stop-timeout": func() { c.StopTimeout = flags.StopTimeout }, "node-timeout": func() { c.NodeTimeout = flags.NodeTimeout },
		"metric": func() { c.Metrics = flags.Metrics }, "history": func() { c.History = flags.History },
		"decay": func() { c.Decay = flags.Decay }, "tls-ca": func() { c.TLS.CA = flags.TLS.CA },
		"tls-cert": func() { c.TLS.Cert = flags.TLS.Cert }, "tls-key": func() { c.TLS.Key = flags.TLS.Key },
	} {
		if set.Changed(name) {
			apply()
		}
	}
	return c
}

// agentOptions turns the settings into agent.Options: metrics parsed
// (only those a sidecar can measure), the backend check set.
func agentOptions(c *config.Agent) (agent.Options, error) {
	o := agent.Options{
		Route: c.Route, Backend: c.Backend, Balancer: c.Balancer, Domain: c.Domain, Aliases: c.Aliases,
		Contexts: c.Contexts, Proxies: c.Proxies, Interval: c.Interval, History: c.History, Decay: c.Decay,
		StopTimeout: c.StopTimeout, NodeTimeout: c.NodeTimeout,
	}
	if a := c.Advertise; a != nil {
		o.Advertise = &agent.AdvertiseOptions{Group: a.Group, Interface: a.Interface, SecurityKey: a.SecurityKey}
	}
	var problems []config.Problem
	for i, s := range c.Metrics {
		m, err := agent.ParseMetric(s)
		if err == nil && m.Kind.Embedded() {
			err = fmt.Errorf("metric %s measures the process it runs in, here the sidecar; a sidecar can use cpu, mem, prometheus and static", m.Kind)
		}
		if err != nil {
			field := fmt.Sprintf("metrics[%d]", i)
			problems = append(problems, config.Problem{File: cmpOr(c.File(), "--metric"), Line: c.Line(field), Field: field, Msg: err.Error()})
			continue
		}
		o.Metrics = append(o.Metrics, m)
	}
	if len(problems) > 0 {
		return o, &config.Error{Problems: problems}
	}
	if c.Route == "" || c.Backend == "" {
		return o, usageError{errors.New("agent needs --route and --backend (or --config FILE)")}
	}
	var err error
	if o.TLS, err = agentTLS(c.TLS); err != nil {
		return o, err
	}
	check, err := backendCheck(c.Backend)
	if err != nil {
		return o, usageError{err}
	}
	o.Check = check
	return o, nil
}

// agentTLS builds the TLS settings for https:// managers; nil when none
// is given (the system roots, no client certificate).
func agentTLS(t config.AgentTLS) (*tls.Config, error) {
	if t == (config.AgentTLS{}) {
		return nil, nil
	}
	if (t.Cert == "") != (t.Key == "") {
		return nil, usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("agent TLS CA: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("agent TLS CA %s: no PEM certificate in it", t.CA)
		}
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("agent TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// backendCheck returns the check of the backend: any HTTP answer to a GET
// of the backend URL for http and https, a TCP connection for ajp and h2c.
func backendCheck(backend string) (func(context.Context) error, error) {
	u, err := url.Parse(backend)
	if err != nil || u.Port() == "" {
		return nil, fmt.Errorf("--backend %q: want scheme://host:port", backend)
	}
	switch u.Scheme {
	case "http", "https":
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		target := u.Scheme + "://" + u.Host + "/"
		return func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return err
			}
			res, err := client.Do(req)
			if err != nil {
				return err
			}
			res.Body.Close()
			return nil
		}, nil
	case "ajp", "h2c":
		return func(ctx context.Context) error {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", u.Host)
			if err == nil {
				conn.Close()
			}
			return err
		}, nil
	}
	return nil, fmt.Errorf("--backend %q: scheme must be http, https, ajp or h2c", backend)
}

// runAgent runs the agent until SIGTERM or SIGINT (or ctx ends), then
// drains the node and returns.
func runAgent(ctx context.Context, opts agent.Options) error {
	a, err := agent.New(opts)
	if err != nil {
		return usageError{err}
	}
	sig, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	select {
	case err := <-done:
		cancel()
		return err
	case <-sig.Done():
	}
	stopTimeout := opts.StopTimeout
	if stopTimeout == 0 {
		stopTimeout = 10 * time.Second
	}
	opts.Log.Info("stopping: draining the node", "stop_timeout", stopTimeout)
	sctx, scancel := context.WithTimeout(context.Background(), stopTimeout+10*time.Second)
	err = a.Shutdown(sctx)
	scancel()
	cancel()
	if rerr := <-done; rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		opts.Log.Warn("drain incomplete", "err", err)
	}
	opts.Log.Info("stopped")
	return nil
}
