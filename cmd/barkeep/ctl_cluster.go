package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/barkeep-lb/barkeep/internal/cluster"
)

// clusterCtlCmds returns the cluster's `barkeep ctl` subcommands.
func clusterCtlCmds() []func(*ctl) *cobra.Command {
	return []func(*ctl) *cobra.Command{(*ctl).httpListCmd, (*ctl).clusterCmd}
}

// httpListCmd is Karaf Cellar's cluster:http-list: every alias and
// context with the nodes serving it across the cluster.
func (c *ctl) httpListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "http-list [GROUP]",
		Short: "List aliases and contexts with the nodes serving them across the cluster (Cellar's cluster:http-list)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("http-list takes at most one GROUP, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/api/v1/http-list"
			if len(args) == 1 {
				path += "?group=" + url.QueryEscape(args[0])
			}
			var res struct {
				Group     string             `json:"group"`
				Locations []cluster.Location `json:"locations"`
			}
			if err := c.get(cmd.Context(), path, &res); err != nil {
				return err
			}
			var rows [][]string
			for _, l := range res.Locations {
				rows = append(rows, []string{l.Alias, l.Context, l.Route, l.Location, l.State, dash(strings.Join(l.Groups, ","))})
			}
			return c.print(res, []string{"ALIAS", "CONTEXT", "NODE", "LOCATION", "STATE", "GROUPS"}, rows)
		},
	}
}

// clusterCmd shows the balancers of the cluster, the voters, each
// group's leader and how far each replica lags.
func (c *ctl) clusterCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster's balancers, voters, each group's leader and replica lag",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st cluster.Status
			if err := c.get(cmd.Context(), "/api/v1/cluster", &st); err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(st, nil, nil)
			}
			fmt.Fprintf(c.stdout, "cluster %s, seen from %s (ready: %v, changes not yet accepted: %d)\n\n", st.Cluster, st.Node, st.Ready, st.Pending)
			var rows [][]string
			for _, b := range st.Balancers {
				seen := (time.Duration(b.LastSeenMs) * time.Millisecond).String() + " ago"
				if b.Self {
					seen = "this balancer"
				}
				rows = append(rows, []string{b.Node, yesNo(b.Voter), seen})
			}
			if err := c.print(nil, []string{"BALANCER", "VOTER", "LAST HEARD"}, rows); err != nil {
				return err
			}
			fmt.Fprintln(c.stdout)
			rows = rows[:0]
			for _, g := range st.Groups {
				var reps []string
				for _, r := range g.Replicas {
					state := "lag " + strconv.FormatUint(r.Lag, 10)
					if r.Offline {
						state = "offline"
					}
					reps = append(reps, r.Node+" ("+state+")")
				}
				leader := dash(g.Leader)
				if g.Error != "" {
					leader = "? (" + g.Error + ")"
				}
				rows = append(rows, []string{g.Name, g.Policy, strconv.Itoa(g.Registrations), leader, dash(strings.Join(reps, ", "))})
			}
			return c.print(nil, []string{"GROUP", "POLICY", "NODES", "LEADER", "REPLICAS"}, rows)
		},
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
