package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// maxStaleRetries bounds how often a change is made again when another
// balancer of the cluster changed the same member meanwhile.
const maxStaleRetries = 3

// errNotCommitted wraps a commit the cluster did not accept: the change
// applies on this balancer and the cluster part retries it.
var errNotCommitted = errors.New("applied on this balancer; the cluster has not accepted it yet (retried)")

// commitMembers commits, in a cluster, the settings of every member that
// differs between before and after (sorted balancer lists of one update).
func (h *Handler) commitMembers(ctx context.Context, snap *registry.Snapshot, before, after []*registry.Balancer) error {
	if h.replicator == nil {
		return nil
	}
	old := map[string]*registry.Balancer{}
	for _, b := range before {
		old[b.Name] = b
	}
	var errs []error
	for _, b := range after {
		ob := old[b.Name]
		if ob == b {
			continue
		}
		var names []string
		for _, m := range b.Members {
			if ob == nil || ob.Member(m.Name) != m {
				names = append(names, m.Name)
			}
		}
		if len(names) > 0 {
			errs = append(errs, h.replicator.CommitMembers(ctx, snap, b.Name, names...))
		}
	}
	return committed(errors.Join(errs...))
}

// commitNode commits, in a cluster, an operator's change to the contexts
// of node route.
func (h *Handler) commitNode(ctx context.Context, snap *registry.Snapshot, route string) error {
	if h.replicator == nil {
		return nil
	}
	return committed(h.replicator.CommitNodes(ctx, snap, route))
}

func committed(err error) error {
	if err == nil || errors.Is(err, registry.ErrStale) {
		return err
	}
	return fmt.Errorf("%w: %w", errNotCommitted, err)
}
