package registry

import (
	"context"
	"errors"
)

// Replicator makes the changes of the registry's writers durable on every
// balancer of a cluster (internal/cluster implements it; cmd hands it to
// the MCMP manager and the admin handler, which do not import the
// cluster). A writer first applies its change to its Store, so this
// balancer routes it at once, then commits it; it acknowledges the change
// to its client only when the commit returned nil.
//
// Methods are safe for concurrent use and never called with the Store's
// writer lock held.
type Replicator interface {
	// CommitNodes makes the MCMP nodes named by routes, as snap holds
	// them (a node missing from snap is forgotten), the cluster's state.
	// It returns nil once the cluster accepted every one, an error
	// wrapping ErrStale when another balancer changed one of them since
	// this balancer last saw it (the newer state is then in the Store:
	// apply the message again), or another error when the cluster could
	// not be reached within the commit timeout (the change stays applied
	// here and is retried; the writer answers with an error so its
	// client sends it again).
	CommitNodes(ctx context.Context, snap *Snapshot, routes ...string) error
	// CommitMembers makes the operator settings (status flags,
	// loadfactor, lbset, route, redirect) of the named members of
	// balancer, as snap holds them, the cluster's state. Errors as for
	// CommitNodes.
	CommitMembers(ctx context.Context, snap *Snapshot, balancer string, members ...string) error
	// Heard records that this balancer received a STATUS from the node
	// route reporting load (-1..100): the evidence that keeps the node
	// registered cluster-wide and the load the other balancers use.
	Heard(route string, load int32)
	// InFlight returns the requests in flight on the other balancers to
	// the contexts paths of node route under aliases (all of the node's
	// contexts when both are empty), waiting at most until ctx is done.
	InFlight(ctx context.Context, route string, aliases, paths []string) int64
}

// ErrStale is wrapped by a Replicator's error when the change was based
// on an older state than the cluster's; the newer state has been applied
// to the Store, and the writer should apply its change again.
var ErrStale = errors.New("registry: changed meanwhile on another balancer; apply again")
