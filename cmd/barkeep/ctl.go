package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// ctl is what every `barkeep ctl` subcommand shares: where the admin
// listener is, how to authenticate, how to print. Subcommands in other
// files hang on the group with newCtlCmd's extra constructors and use
// get, send and print.
type ctl struct {
	admin                     string // base URL of the admin listener
	token                     string
	output                    string // "table" or "json"
	caFile, certFile, keyFile string
	stdout                    io.Writer
}

// newCtlCmd returns the `barkeep ctl` group with its subcommands, plus
// one built by each of extra (e.g. the cluster's http-list).
func newCtlCmd(stdout io.Writer, extra ...func(*ctl) *cobra.Command) *cobra.Command {
	c := &ctl{stdout: stdout}
	cmd := &cobra.Command{
		Use:   "ctl",
		Short: "Inspect and change a running barkeep through its admin listener",
		Long: `Inspect and change a running barkeep through its admin listener's API
(docs/api.md). Tables by default, -o json for the API's JSON.

A MEMBER is its route (jvmRoute), its URL, or BALANCER/ROUTE when a route
is used in several balancers.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.Help()
			return usageError{errors.New("ctl needs a subcommand")}
		},
	}
	f := cmd.PersistentFlags()
	f.StringVar(&c.admin, "admin", "http://127.0.0.1:8090", "the admin listener's URL")
	f.StringVar(&c.token, "token", "", "bearer token (admin.tokens); default $BARKEEP_TOKEN")
	f.StringVarP(&c.output, "output", "o", "table", "output: table or json")
	f.StringVar(&c.caFile, "cacert", "", "CA certificate (PEM) that signed an https admin listener's certificate")
	f.StringVar(&c.certFile, "cert", "", "client certificate (PEM) for an admin listener that requires one")
	f.StringVar(&c.keyFile, "key", "", "client certificate's key (PEM)")
	cmd.AddCommand(c.balancersCmd(), c.membersCmd(), c.nodesCmd(), c.contextsCmd(), c.diffCmd(), c.explainCmd(),
		c.setLoadfactorCmd())
	for _, a := range []string{"enable", "disable", "drain", "standby", "stop"} {
		cmd.AddCommand(c.memberActionCmd(a))
	}
	for _, e := range extra {
		cmd.AddCommand(e(c))
	}
	return cmd
}

// client returns the HTTP client for the admin listener, with the TLS
// settings of --cacert, --cert and --key.
func (c *ctl) client() (*http.Client, error) {
	hc := &http.Client{Timeout: 10 * time.Second}
	if c.caFile == "" && c.certFile == "" {
		return hc, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, usageError{fmt.Errorf("--cacert: %w", err)}
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usageError{fmt.Errorf("--cacert: no PEM certificate in %s", c.caFile)}
		}
	}
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, usageError{fmt.Errorf("--cert/--key: %w", err)}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	hc.Transport = &http.Transport{TLSClientConfig: tc}
	return hc, nil
}

// get fetches path from the admin listener into v.
func (c *ctl) get(ctx context.Context, path string, v any) error {
	return c.send(ctx, http.MethodGet, path, nil, v)
}

// send makes one API request with a JSON body (nil: empty) and decodes the
// answer into v (nil: discarded). An answer that is not 2xx becomes an
// error with the problem's detail.
func (c *ctl) send(ctx context.Context, method, path string, body, v any) error {
	if c.output != "table" && c.output != "json" {
		return usageError{fmt.Errorf("-o %q: want table or json", c.output)}
	}
	base, err := url.Parse(c.admin)
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return usageError{fmt.Errorf("--admin %q: want http://host:port or https://host:port", c.admin)}
	}
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.admin, "/")+path, r)
	if err != nil {
		return err
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := c.tokenOrEnv(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	hc, err := c.client()
	if err != nil {
		return err
	}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	if res.StatusCode/100 != 2 {
		var p struct{ Detail string }
		if json.Unmarshal(data, &p) == nil && p.Detail != "" {
			return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, p.Detail)
		}
		return fmt.Errorf("%s %s: %s", method, path, res.Status)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s %s: answer is not the API's JSON: %w", method, path, err)
	}
	return nil
}

func (c *ctl) tokenOrEnv() string {
	if c.token != "" {
		return c.token
	}
	return os.Getenv("BARKEEP_TOKEN")
}

// print writes v as indented JSON with -o json, else the table of header
// and rows.
func (c *ctl) print(v any, header []string, rows [][]string) error {
	if c.output == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// dash shows an empty cell as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
