package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/barkeep-lb/barkeep/internal/config"
	"github.com/barkeep-lb/barkeep/internal/convert"
)

// errLeftOut is convert --strict's failure: the findings are already on
// standard error.
var errLeftOut = errors.New("directives were left out (--strict)")

func newConvertCmd(stdout, stderr io.Writer) *cobra.Command {
	var opts convert.Options
	var strict bool
	cmd := &cobra.Command{
		Use:   "convert [-D NAME]... [--server-root DIR] [--strict] HTTPD.CONF",
		Short: "Translate an httpd mod_proxy_balancer / mod_proxy_cluster configuration into barkeep's YAML",
		Long: `Read an Apache httpd configuration as httpd does (Include, IncludeOptional,
<IfDefine> with -D, <IfModule>, ${VAR}, <VirtualHost>) and print the barkeep
configuration it maps to on standard output. Every directive that was not
mapped, and every mapping with a difference worth knowing, is listed on
standard error as FILE:LINE: DIRECTIVE: why.

Exit status: 0 when the file was converted, 2 with --strict when anything was
left out (nothing is printed then) or when httpd itself would refuse the file,
1 when the result does not pass check-config on this machine (a TLS
certificate file that is missing here, for example).

docs/migrating-from-httpd.md explains each directive.`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			res, err := convert.File(args[0], opts)
			if err != nil {
				return err
			}
			for _, f := range res.Skipped {
				fmt.Fprintf(stderr, "%s:%d: %s: not mapped: %s\n", f.File, f.Line, f.Directive, f.Why)
			}
			for _, f := range res.Notes {
				fmt.Fprintf(stderr, "%s:%d: %s: note: %s\n", f.File, f.Line, f.Directive, f.Why)
			}
			fmt.Fprintf(stderr, "barkeep convert: %d directive(s) or parameter(s) not mapped, %d note(s)\n", len(res.Skipped), len(res.Notes))
			if strict && len(res.Skipped) > 0 {
				return errLeftOut
			}
			if _, err := config.Parse("(converted "+args[0]+")", res.YAML); err != nil {
				stdout.Write(res.YAML)
				return fmt.Errorf("the converted configuration does not pass check-config here:\n%w", err)
			}
			_, err = stdout.Write(res.YAML)
			return err
		},
	}
	cmd.Flags().StringArrayVarP(&opts.Defines, "define", "D", nil, "a name as httpd's -D (repeatable; NAME=VALUE as Define)")
	cmd.Flags().StringVarP(&opts.ServerRoot, "server-root", "d", "", "ServerRoot for relative Include paths, as httpd's -d (default: the file's directory)")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 2, printing nothing, when any directive was left out")
	return cmd
}
