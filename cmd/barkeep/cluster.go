package main

import (
	"fmt"
	"net/http"

	"github.com/barkeep-lb/barkeep/internal/cluster"
	"github.com/barkeep-lb/barkeep/internal/config"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// newCluster builds the cluster part from the cluster section; nil, nil
// without one (barkeep alone: nothing opened for clustering).
func (s *server) newCluster(c *config.Config) (*cluster.Cluster, error) {
	cc := c.Cluster
	if cc == nil {
		return nil, nil
	}
	opts := cluster.Options{
		Name: cc.Name, Node: cc.NodeName(), Listen: cc.Listen, Peers: cc.Peers, Voter: cc.Voter,
		Replicas: cc.Replicas, URL: cc.URL, DataDir: cc.DataDir, CommitTimeout: cc.CommitTimeout,
		NodeTimeout: cc.NodeTimeout, WaitForRemove: c.Manager.WaitForRemove, Tombstone: cc.Tombstone, Log: s.log,
	}
	if opts.Replicas == 0 {
		opts.Replicas = min(3, 1+len(cc.Peers))
		if cc.URL != "" {
			opts.Replicas = 1
		}
	}
	for _, g := range cc.Groups {
		var p cluster.Policy
		if err := p.UnmarshalText([]byte(cc.Policy(g))); err != nil {
			return nil, fmt.Errorf("cluster.sync.%s: %w", g, err)
		}
		opts.Groups = append(opts.Groups, cluster.Group{Name: g, Policy: p})
	}
	return cluster.New(s.store, opts)
}

// replicator returns the cluster as the writers' Replicator, or nil.
func (s *server) replicator() registry.Replicator {
	if s.cluster == nil {
		return nil
	}
	return s.cluster
}

// clusterAPI adds /api/v1/cluster and /api/v1/http-list to the admin
// listener's handlers.
func (s *server) clusterAPI(extra map[string]http.Handler) {
	extra["GET /api/v1/http-list"] = cluster.HTTPListHandler(s.cluster, s.store)
	if s.cluster != nil {
		extra["GET /api/v1/cluster"] = s.cluster.StatusHandler()
	}
}
