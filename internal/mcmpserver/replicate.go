package mcmpserver

import (
	"context"
	"errors"

	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/mcmp"
)

// maxStaleRetries bounds how often a message is applied again when another
// balancer of the cluster changed the same node meanwhile.
const maxStaleRetries = 3

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
			continue
		}
		s.log.Warn("change not committed to the cluster; the worker will send it again", "route", routes, "err", err)
		return &mcmp.ProtocolError{Type: mcmp.TypeMem, Mess: "MEM: the cluster's registry did not accept the change; send it again later", Err: err}
	}
}
