// Command barkeep is a cluster-aware HTTP load balancer for application
// server fleets: balancer groups with httpd's lbmethods, sticky sessions by
// jvmRoute, failover, and an httpd-style balancer-manager.
//
//	barkeep serve --config barkeep.yaml   run from a configuration file
//	barkeep demo                          three demo pubs behind a balancer
//	barkeep check-config barkeep.yaml     validate a file (exit 2 on problems)
//	barkeep version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/barkeep-lb/barkeep/internal/config"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status: 0 on
// success, 2 for configuration problems and usage errors, 1 otherwise.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var cerr *config.Error
	var uerr usageError
	switch {
	case errors.As(err, &cerr):
		for _, p := range cerr.Problems {
			fmt.Fprintln(stderr, p.Error())
		}
		fmt.Fprintf(stderr, "barkeep: %d configuration problem(s); nothing started\n", len(cerr.Problems))
		return 2
	case errors.As(err, &uerr):
		fmt.Fprintln(stderr, "barkeep:", err)
		return 2
	}
	fmt.Fprintln(stderr, "barkeep:", err)
	return 1
}

// usageError marks a wrong command line.
type usageError struct{ error }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "barkeep",
		Short:         "A cluster-aware HTTP load balancer for application server fleets",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCmd(stdout, stderr), newDemoCmd(stdout, stderr), newCheckConfigCmd(stdout), newVersionCmd(stdout))
	return root
}

func newCheckConfigCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "check-config FILE",
		Short: "Validate a configuration file; list every problem with its line (exit status 2)",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := config.Load(args[0])
			if err != nil {
				return err
			}
			members := 0
			for _, b := range c.Balancers {
				members += len(b.Members)
			}
			fmt.Fprintf(stdout, "%s: OK (%d balancers, %d members, %d routes)\n", args[0], len(c.Balancers), members, len(c.Routes))
			return nil
		},
	}
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print barkeep's version",
		Args:  exactArgs(0),
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(stdout, "barkeep %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}

// buildVersion is the -ldflags version, else the module version, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
