package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/spf13/cobra"

	"github.com/barkeep-lb/barkeep/internal/config"
	"github.com/barkeep-lb/barkeep/internal/demo"
)

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	var listen, adminAddr, logFormat string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run three demo pubs (elm, oak, ash) behind a balancer on loopback",
		Long: `Run three demo backends ("pubs": the Elm, the Oak and the Ash) and a
balancer in front of them, all in this process on loopback. Each pub sets a
JSESSIONID=<id>.<route> cookie and counts your visits, so you can watch
sticky sessions and failover. Ctrl-C stops everything.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), listen, adminAddr, serverOptions{
				stdout: stdout, stderr: stderr, logFormat: logFormat, version: buildVersion(),
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8000", "client listener")
	cmd.Flags().StringVar(&adminAddr, "admin", "127.0.0.1:8090", "admin listener (balancer-manager, API, metrics)")
	addLogFormatFlag(cmd, &logFormat)
	cmd.AddCommand(newDemoPubCmd(stdout))
	return cmd
}

func runDemo(ctx context.Context, listen, adminAddr string, opts serverOptions) error {
	var backends []demo.Backend
	var servers []*http.Server
	var wg sync.WaitGroup
	defer func() {
		for _, s := range servers {
			s.Close()
		}
		wg.Wait()
	}()
	// start serves h on a loopback port and returns its URL.
	start := func(name string, h http.Handler) (string, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("demo %s: %w", name, err)
		}
		srv := &http.Server{Handler: h}
		servers = append(servers, srv)
		wg.Go(func() {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintf(opts.stderr, "demo %s: %v\n", name, err)
			}
		})
		return "http://" + l.Addr().String(), nil
	}
	for _, p := range demo.Pubs() {
		u, err := start("pub "+p.Route, p)
		if err != nil {
			return err
		}
		backends = append(backends, demo.Backend{URL: u, Route: p.Route})
	}
	welcome := new(demo.Welcome)
	welcomeURL, err := start("welcome page", welcome)
	if err != nil {
		return err
	}
	yaml, err := demo.Config(listen, adminAddr, backends, welcomeURL)
	if err != nil {
		return err
	}
	cfg, err := config.Parse("demo.yaml", yaml)
	if err != nil {
		return err
	}
	load := func() (*config.Config, error) { return config.Parse("demo.yaml", yaml) }
	return serve(ctx, cfg, load, opts, func(s *server) {
		welcome.SetAdmin(s.adminAddr)
		printBanner(opts.stdout, s, backends)
	})
}

func printBanner(w io.Writer, s *server, backends []demo.Backend) {
	front := "http://" + s.clientAddrs[0]
	fmt.Fprintf(w, `barkeep demo: three pubs behind balancer "barcrawl"
`)
	for _, b := range backends {
		fmt.Fprintf(w, "  pub %-4s %s\n", b.Route, b.URL)
	}
	fmt.Fprintf(w, `
What to try, as a page: %[1]s/
Open in a browser (reload to see your visit count rise in one pub):
  %[1]s/bar/
Live console (drain or disable a pub and watch the sessions move; explain a request):
  http://%[2]s/
Balancer manager (httpd's page):
  http://%[2]s/balancer-manager
From a shell: barkeep ctl --admin http://%[2]s members
Stickiness with curl: a cookie jar keeps you in one pub, without it you go round:
  curl -s -c /tmp/barkeep.jar -b /tmp/barkeep.jar %[1]s/bar/   # run it a few times
  curl -s %[1]s/bar/                                           # a new session each time
Ctrl-C stops the demo. Access log follows:

`, front, s.adminAddr)
}
