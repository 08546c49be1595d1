package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/barkeep-lb/barkeep/internal/admin"
)

func (c *ctl) balancersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "balancers",
		Short: "List the balancers",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res struct {
				Balancers []admin.BalancerView `json:"balancers"`
			}
			if err := c.get(cmd.Context(), "/api/v1/balancers", &res); err != nil {
				return err
			}
			var rows [][]string
			for _, b := range res.Balancers {
				usable := 0
				for _, m := range b.Members {
					if m.Usable {
						usable++
					}
				}
				rows = append(rows, []string{b.Name, b.Source, b.LBMethod, strconv.Itoa(len(b.Members)), strconv.Itoa(usable),
					dash(strings.Join(b.StickySession, "|")), dash(strings.Join(b.Paths, " "))})
			}
			return c.print(res, []string{"BALANCER", "SOURCE", "LBMETHOD", "MEMBERS", "USABLE", "STICKYSESSION", "PATHS"}, rows)
		},
	}
}

func (c *ctl) membersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "members [BALANCER]",
		Short: "List the members of every balancer, or of one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/api/v1/members"
			if len(args) == 1 {
				path = "/api/v1/balancers/" + url.PathEscape(args[0]) + "/members"
			}
			var res struct {
				Members []admin.MemberView `json:"members"`
			}
			if err := c.get(cmd.Context(), path, &res); err != nil {
				return err
			}
			var rows [][]string
			for _, m := range res.Members {
				rows = append(rows, []string{m.Balancer, dash(m.Route), m.Name, dash(m.StatusText), dash(m.Status), strconv.Itoa(m.LoadFactor),
					strconv.Itoa(m.LBSet), strconv.FormatInt(m.Busy, 10), strconv.FormatUint(m.Elected, 10), strconv.FormatUint(m.Errors, 10),
					admin.HumanSize(m.Transferred), admin.HumanSize(m.Read)})
			}
			return c.print(res, []string{"BALANCER", "ROUTE", "MEMBER", "STATUS", "FLAGS", "LF", "SET", "BUSY", "ELECTED", "ERRORS", "SENT", "READ"}, rows)
		},
	}
}

func (c *ctl) nodesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "List the nodes registered over MCMP",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res struct {
				Nodes []admin.NodeView `json:"nodes"`
			}
			if err := c.get(cmd.Context(), "/api/v1/nodes", &res); err != nil {
				return err
			}
			var rows [][]string
			for _, n := range res.Nodes {
				rows = append(rows, []string{n.JVMRoute, n.Balancer, dash(n.Domain), n.URL, n.Status, strconv.Itoa(int(n.Load)),
					strconv.FormatUint(n.Elected, 10), strconv.FormatInt(n.Busy, 10), strconv.Itoa(len(n.Contexts))})
			}
			return c.print(res, []string{"NODE", "BALANCER", "DOMAIN", "URL", "STATUS", "LOAD", "ELECTED", "BUSY", "CONTEXTS"}, rows)
		},
	}
}

func (c *ctl) contextsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "contexts",
		Short: "List the application contexts of the MCMP nodes",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res struct {
				Contexts []admin.ContextView `json:"contexts"`
			}
			if err := c.get(cmd.Context(), "/api/v1/contexts", &res); err != nil {
				return err
			}
			var rows [][]string
			for _, x := range res.Contexts {
				rows = append(rows, []string{x.Node, x.Balancer, strconv.Itoa(x.ID), x.Path, dash(strings.Join(x.Aliases, " ")), x.State,
					strconv.FormatInt(x.Requests, 10)})
			}
			return c.print(res, []string{"NODE", "BALANCER", "ID", "CONTEXT", "ALIASES", "STATE", "IN-FLIGHT"}, rows)
		},
	}
}

// memberPath finds the API path of the member arg names: BALANCER/ROUTE,
// or a route or URL that only one balancer has.
func (c *ctl) memberPath(cmd *cobra.Command, arg string) (string, error) {
	var res struct {
		Members []admin.MemberView `json:"members"`
	}
	if err := c.get(cmd.Context(), "/api/v1/members", &res); err != nil {
		return "", err
	}
	var found []admin.MemberView
	for _, m := range res.Members {
		if m.Route == arg || m.Name == arg || m.Balancer+"/"+m.Route == arg || m.Balancer+"/"+m.Name == arg {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 0:
		return "", usageError{fmt.Errorf("no member %q (give its route, its URL or BALANCER/ROUTE; see barkeep ctl members)", arg)}
	case 1:
		return "/api/v1/balancers/" + url.PathEscape(found[0].Balancer) + "/members/" + url.PathEscape(found[0].Name), nil
	}
	var names []string
	for _, m := range found {
		names = append(names, m.Balancer+"/"+m.Route)
	}
	return "", usageError{fmt.Errorf("%q names %d members (%s): say which with BALANCER/ROUTE", arg, len(found), strings.Join(names, ", "))}
}

func (c *ctl) printMember(m admin.MemberView) error {
	return c.print(m, []string{"BALANCER", "ROUTE", "MEMBER", "STATUS", "FLAGS", "LF", "SET"},
		[][]string{{m.Balancer, dash(m.Route), m.Name, dash(m.StatusText), dash(m.Status), strconv.Itoa(m.LoadFactor), strconv.Itoa(m.LBSet)}})
}

var memberActionHelp = map[string]string{
	"enable":  "Let a member take new requests again (clears disabled, stopped, drain and hot standby)",
	"disable": "Disable a member (D): no requests; its sticky sessions go to its redirect or fail over; retried after retry",
	"drain":   "Drain a member (N): only its existing sticky sessions, no new ones",
	"standby": "Make a member a hot standby (H): used when no ordinary member of its lbset is usable",
	"stop":    "Stop a member (S): no requests until enabled",
}

func (c *ctl) memberActionCmd(action string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " MEMBER",
		Short: memberActionHelp[action],
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := c.memberPath(cmd, args[0])
			if err != nil {
				return err
			}
			var m admin.MemberView
			if err := c.send(cmd.Context(), "POST", path+"/"+action, map[string]any{}, &m); err != nil {
				return err
			}
			return c.printMember(m)
		},
	}
}

func (c *ctl) setLoadfactorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set-loadfactor MEMBER N",
		Short: "Set a member's loadfactor (1..100)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 || n > 100 {
				return usageError{fmt.Errorf("loadfactor %q: want a whole number in 1..100", args[1])}
			}
			path, err := c.memberPath(cmd, args[0])
			if err != nil {
				return err
			}
			var m admin.MemberView
			if err := c.send(cmd.Context(), "PATCH", path, map[string]any{"loadfactor": n}, &m); err != nil {
				return err
			}
			return c.printMember(m)
		},
	}
}

func (c *ctl) diffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff",
		Short: "Show how the running balancers differ from the configuration file (runtime changes)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var d admin.Diff
			if err := c.get(cmd.Context(), "/api/v1/diff", &d); err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(d, nil, nil)
			}
			if d.Empty() {
				fmt.Fprintln(c.stdout, "no runtime changes: the running balancers are as configured")
				return nil
			}
			for _, b := range d.Balancers {
				fmt.Fprintf(c.stdout, "balancer %s\n", b.Name)
				for _, ch := range b.Changes {
					fmt.Fprintf(c.stdout, "  ~ %s: %s → %s\n", ch.Field, quoted(ch.Before), quoted(ch.After))
				}
				for _, m := range b.Members {
					switch {
					case m.Added != nil:
						fmt.Fprintf(c.stdout, "  + member %s (route %s, loadfactor %d) not in the file\n", m.Name, dash(m.Added.Route), m.Added.LoadFactor)
					case m.Removed:
						fmt.Fprintf(c.stdout, "  - member %s removed\n", m.Name)
					default:
						for _, ch := range m.Changes {
							fmt.Fprintf(c.stdout, "  ~ member %s %s: %s → %s\n", m.Name, ch.Field, quoted(ch.Before), quoted(ch.After))
						}
					}
				}
			}
			return nil
		},
	}
}

func quoted(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func (c *ctl) explainCmd() *cobra.Command {
	var cookie, method string
	cmd := &cobra.Command{
		Use:   "explain URL",
		Short: "Explain how a request for URL would be routed, without sending it",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"url": {args[0]}}
			if cookie != "" {
				q.Set("cookie", cookie)
			}
			if method != "" {
				q.Set("method", method)
			}
			var res map[string]any
			if err := c.get(cmd.Context(), "/api/v1/explain?"+q.Encode(), &res); err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(res, nil, nil)
			}
			return printExplanation(c, res)
		},
	}
	cmd.Flags().StringVar(&cookie, "cookie", "", "the request's Cookie header, e.g. JSESSIONID=abc.elm")
	cmd.Flags().StringVar(&method, "method", "", "the request's method (default GET)")
	return cmd
}

// printExplanation writes an explanation's summary, steps and candidate
// table.
func printExplanation(c *ctl, res map[string]any) error {
	if s, ok := res["summary"].(string); ok {
		fmt.Fprintln(c.stdout, s)
	}
	if steps, ok := res["steps"].([]any); ok {
		for _, s := range steps {
			fmt.Fprintf(c.stdout, "  - %v\n", s)
		}
	}
	cands, _ := res["candidates"].([]any)
	if len(cands) == 0 {
		return nil
	}
	var rows [][]string
	for _, x := range cands {
		m, ok := x.(map[string]any)
		if !ok {
			return errors.New("explain: unexpected candidate")
		}
		mark := ""
		if m["chosen"] == true {
			mark = "*"
		}
		rows = append(rows, []string{mark, fmt.Sprint(m["member"]), dash(fmt.Sprint(m["route"])), dash(fmt.Sprint(m["status"])),
			fmt.Sprint(m["eligible"]), fmt.Sprint(m["reason"])})
	}
	fmt.Fprintln(c.stdout)
	return c.print(nil, []string{"", "MEMBER", "ROUTE", "STATUS", "ELIGIBLE", "WHY"}, rows)
}
