package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/barkeep-lb/barkeep/internal/demo"
)

func newDemoPubCmd(stdout io.Writer) *cobra.Command {
	var listen, route, name string
	cmd := &cobra.Command{
		Use:   "pub --listen HOST:PORT --route NAME",
		Short: "Run one demo pub alone, as a backend for barkeep agent (examples/ha-failover)",
		Long: `Run one demo backend ("pub") in this process: it answers every path with
"You are in the <Name> (route <route>), visit N", keeping a JSESSIONID=<id>.<route>
session per visitor. Ctrl-C stops it.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				name = strings.ToUpper(route[:min(1, len(route))]) + route[min(1, len(route)):]
			}
			return runPub(cmd.Context(), listen, &demo.Pub{Name: name, Route: route}, stdout)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9001", "where the pub listens")
	cmd.Flags().StringVar(&route, "route", "node1", "the pub's route (jvmRoute) in its session ids")
	cmd.Flags().StringVar(&name, "name", "", "the pub's name on its page (default: the route, capitalised)")
	return cmd
}

func runPub(ctx context.Context, listen string, p *demo.Pub, stdout io.Writer) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("demo pub: %w", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "demo pub %s (route %s) on http://%s\n", p.Name, p.Route, l.Addr())
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
