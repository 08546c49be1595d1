// Command barkeep is a cluster-aware HTTP load balancer for application
// server fleets: balancer groups with httpd's lbmethods, sticky sessions by
// jvmRoute, failover, and an httpd-style balancer-manager.
//
//	barkeep serve --config barkeep.yaml   run from a configuration file
//	barkeep demo                          three demo pubs behind a balancer
//	barkeep agent --proxy HOST:PORT ...   register a backend with balancers (MCMP)
//	barkeep check-config barkeep.yaml     validate a file (exit 2 on problems)
//	barkeep convert httpd.conf > barkeep.yaml   translate an httpd configuration
//	barkeep healthcheck                   GET the admin /healthz (container HEALTHCHECK)
//	barkeep version                       version, commit, Go version (also --version)
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/barkeep-lb/barkeep/internal/config"
	"github.com/barkeep-lb/barkeep/internal/convert"
)

// version and commit can be set at build time, for builds without the
// VCS stamp (a container build without .git):
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)"
var version, commit = "", ""

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
	case errors.As(err, &uerr), errors.Is(err, errLeftOut), errors.As(err, new(*convert.Error)):
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
		Version:       versionLine(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without a known subcommand cobra would print the help and exit 0;
		// a command line that does nothing is a usage error.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q (see barkeep --help)", args[0])}
			}
			cmd.SetOut(stderr)
			cmd.Help()
			return usageError{errors.New("a command is needed")}
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCmd(stdout, stderr), newDemoCmd(stdout, stderr), newAgentCmd(stderr), newCheckConfigCmd(stdout),
		newVersionCmd(stdout), newHealthcheckCmd(stdout), newConvertCmd(stdout, stderr), newCtlCmd(stdout, clusterCtlCmds()...))
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
		Short: "Print barkeep's version, commit and Go version (as --version does)",
		Args:  exactArgs(0),
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(stdout, versionLine())
		},
	}
}

// buildVersion is the -ldflags version, else the module version, else "dev".
func buildVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	if version != "" {
		return version
	}
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// versionLine is what "barkeep version" and "barkeep --version" print:
//
//	barkeep v1.2.0 (commit 9b514f2c1d0e, modified; go1.26.0 linux/amd64)
//
// The commit comes from the VCS stamp "go build" puts in the binary
// (absent from binaries built outside a checkout, "go run" and tests:
// then "commit unknown"); "modified" means the work tree had changes.
func versionLine() string {
	bi, _ := debug.ReadBuildInfo()
	return formatVersion(bi, runtime.GOOS+"/"+runtime.GOARCH)
}

func formatVersion(bi *debug.BuildInfo, platform string) string {
	rev, modified := commit, false
	goVersion := runtime.Version()
	if bi != nil {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	rev = cmp.Or(rev[:min(len(rev), 12)], "unknown")
	if modified {
		rev += ", modified"
	}
	return fmt.Sprintf("barkeep %s (commit %s; %s %s)", versionOf(bi), rev, goVersion, platform)
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
