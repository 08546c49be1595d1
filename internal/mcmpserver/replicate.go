package mcmpserver

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/mcmp"
)

// maxStaleRetries bounds how often a message is applied again when another
// balancer of the cluster changed the same node meanwhile. Every lost
// compare-and-swap means another balancer's write won, so with a worker
// registering with every balancer (two messages each to three balancers)
// a message can lose a handful of times in a row.
const maxStaleRetries = 8

// replicated applies a message with apply (one registry update, returning
// the snapshot it published) and, in a cluster, commits the change to the
// routes before the message is answered: when another balancer changed
// them meanwhile, the message is applied again on the newer state; when
// the cluster cannot accept it, the worker gets a MEM error and sends its
// configuration again at its next period (MCMP.md §4.4), while this
// balancer keeps routing the change.
func (s *Server) replicated(ctx context.Context, apply func() (*registry.Snapshot, error), routes ...string) error {
	for attempt := 0; ; attempt++ {
		snap, err := apply()
		if err != nil || s.replicator == nil {
			return err
		}
		err = s.replicator.CommitNodes(ctx, snap, routes...)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, registry.ErrStale) && attempt < maxStaleRetries:
			// A short random pause lets the concurrent writers fall out
			// of step instead of colliding again.
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 4)))):
			case <-ctx.Done():
			}
			continue
		}
		s.log.Warn("change not committed to the cluster; the worker will send it again", "route", routes, "err", err)
		return &mcmp.ProtocolError{Type: mcmp.TypeMem, Mess: "MEM: the cluster's registry did not accept the change; send it again later", Err: err}
	}
}
