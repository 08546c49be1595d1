package mcmpserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/mcmp"
)

// ProbeFunc checks that the backend at hostport, spoken to with scheme,
// answers within timeout. It returns nil when it does.
type ProbeFunc func(ctx context.Context, scheme, hostport string, timeout time.Duration) error

var (
	cping = []byte{0x12, 0x34, 0x00, 0x01, 0x0a}
	cpong = []byte{0x41, 0x42, 0x00, 0x01, 0x09}
)

// Probe is mod_proxy_cluster's backend probe (MCMP.md §6.4): for ajp a
// CPING that must be answered by a CPONG; for http, https, ws, wss and h2c
// an "OPTIONS * HTTP/1.0" request, any answer counting as alive. A failed
// connect, a closed connection or the timeout is a failure.
func Probe(ctx context.Context, scheme, hostport string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	switch strings.ToLower(scheme) {
	case "ajp":
		if _, err := conn.Write(cping); err != nil {
			return err
		}
		got := make([]byte, len(cpong))
		if _, err := io.ReadFull(conn, got); err != nil {
			return fmt.Errorf("read CPONG: %w", err)
		}
		if !bytes.Equal(got, cpong) {
			return fmt.Errorf("%x is not a CPONG", got)
		}
		return nil
	case "https", "wss":
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: hostOnly(hostport)}) //nolint:gosec // a liveness probe sends nothing secret
		if err := tc.HandshakeContext(ctx); err != nil {
			return err
		}
		conn = tc
	}
	if _, err := io.WriteString(conn, "OPTIONS * HTTP/1.0\r\nUser-Agent: barkeep (internal mod_cluster connection)\r\n\r\n"); err != nil {
		return err
	}
	var one [1]byte
	if _, err := conn.Read(one[:]); err != nil {
		return fmt.Errorf("no answer to OPTIONS: %w", err)
	}
	return nil
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// status answers a STATUS: the node is probed (unless it reports Load -1)
// and, if alive, its reported load applies: -1 broken (sticky requests
// only), 0 hot standby, 1..100 its weight. A failed probe puts the node in
// error and answers NOTOK without applying the load.
func (s *Server) status(ctx context.Context, req *mcmp.StatusRequest) (string, error) {
	n := s.store.Load().Node(req.JVMRoute)
	if n == nil || n.Renamed {
		return "", mcmp.CantReadNode(req.JVMRoute)
	}
	if n.Removed {
		return mcmp.StatusResponse(req.JVMRoute, false, s.id), nil
	}
	if req.HasLoad && s.replicator != nil {
		s.replicator.Heard(req.JVMRoute, int32(req.Load))
	}
	if req.HasLoad && req.Load == -1 {
		n.Stats.Load.Store(-1)
		return mcmp.StatusResponse(req.JVMRoute, true, s.id), nil
	}
	if !s.probeNode(ctx, n) {
		return mcmp.StatusResponse(req.JVMRoute, false, s.id), nil
	}
	if req.HasLoad {
		if old := n.Stats.Load.Swap(int32(req.Load)); old != int32(req.Load) {
			s.log.Debug("node load", "route", n.JVMRoute, "load", req.Load)
		}
		if n.Stats.ErrorTime.Swap(0) != 0 {
			n.Stats.RecoveredAt.Store(s.now().UnixNano()) // slow start begins
		}
	}
	return mcmp.StatusResponse(req.JVMRoute, true, s.id), nil
}

// probeNode probes n and puts it in error when the probe fails.
func (s *Server) probeNode(ctx context.Context, n *registry.Node) bool {
	m := n.Member()
	err := s.probe(ctx, n.Type, m.URL.Host, m.ConnectionTimeout)
	if err != nil {
		n.Stats.Errors.Add(1)
		if n.Stats.ErrorTime.Swap(s.now().UnixNano()) == 0 {
			s.log.Warn("node probe failed; node in error state", "route", n.JVMRoute, "member", m.Name, "err", err)
		}
		return false
	}
	return true
}

// ping answers a PING of the balancer (no fields), of a node (JVMRoute) or
// of a backend (Scheme, Host, Port). As in the reference, an http(s)
// backend is probed only when it is already a member of some balancer.
func (s *Server) ping(ctx context.Context, req *mcmp.PingRequest) (string, error) {
	snap := s.store.Load()
	switch {
	case req.JVMRoute != "":
		n := snap.Node(req.JVMRoute)
		if n == nil || n.Renamed {
			return "", mcmp.CantReadNode(req.JVMRoute)
		}
		return mcmp.PingResponse(req.JVMRoute, !n.Removed && s.probeNode(ctx, n), s.id), nil
	case req.Scheme == "":
		return mcmp.PingResponse("", true, s.id), nil
	}
	hostport := net.JoinHostPort(strings.Trim(req.Host, "[]"), req.Port)
	if req.Scheme != "ajp" && !isMember(snap, hostport) {
		return mcmp.PingResponse("", false, s.id), nil
	}
	err := s.probe(ctx, req.Scheme, hostport, 10*time.Second)
	return mcmp.PingResponse("", err == nil, s.id), nil
}

func isMember(snap *registry.Snapshot, hostport string) bool {
	for _, b := range snap.Balancers() {
		for _, m := range b.Members {
			if strings.EqualFold(m.URL.Host, hostport) && m.URL.Scheme != "ajp" {
				return true
			}
		}
	}
	return false
}
