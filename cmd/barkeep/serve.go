package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/barkeep-lb/barkeep/internal/config"
)

func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var file, logFormat string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the balancer from a configuration file",
		Long: `Run the balancer from a configuration file.

SIGHUP reloads the file: a file with problems is refused and the running
configuration stays; members that stay keep their counters and error state.
SIGUSR1 reopens the access log file (after logrotate renamed it).
SIGTERM and SIGINT stop accepting connections, let in-flight requests finish
within server.shutdown_timeout, and exit 0.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError{errors.New("serve needs --config FILE")}
			}
			cfg, err := config.Load(file)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, func() (*config.Config, error) { return config.Load(file) },
				serverOptions{stdout: stdout, stderr: stderr, logFormat: logFormat, version: buildVersion()}, nil)
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "configuration file (YAML; see docs/config.md)")
	addLogFormatFlag(cmd, &logFormat)
	return cmd
}

func addLogFormatFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "log-format", "", "log format: text or json (overrides log.format)")
}

// serve runs a server for cfg until SIGINT or SIGTERM (or ctx ends),
// reloading with load on SIGHUP. started, if set, is called once the
// listeners are bound.
func serve(ctx context.Context, cfg *config.Config, load func() (*config.Config, error), opts serverOptions, started func(*server)) error {
	if opts.logFormat != "" && opts.logFormat != "text" && opts.logFormat != "json" {
		return usageError{errors.New("--log-format must be text or json")}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()

	s, err := newServer(cfg, opts)
	if err != nil {
		return err
	}
	if started != nil {
		started(s)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	usr1ctx, stopUSR1 := context.WithCancel(ctx)
	defer stopUSR1()
	wg.Go(func() { reopenLogsOnSIGUSR1(usr1ctx, s) })
	return s.run(ctx, reload, load)
}
