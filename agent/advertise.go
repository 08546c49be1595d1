package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/barkeep-lb/barkeep/mcmp"
)

// AdvertiseOptions configures listening for balancers that announce
// themselves with mod_advertise datagrams (docs/mcmp.md §8).
type AdvertiseOptions struct {
	// Group is the multicast group and port, "ip:port"; default
	// "224.0.1.105:23364" (AdvertiseGroup).
	Group string
	// Interface names the network interface to join the group on, such as
	// "eth0"; default "": the system's choice.
	Interface string
	// SecurityKey is the balancers' AdvertiseSecurityKey; datagrams whose
	// digest does not match it are ignored. Default "": the digest is
	// still checked, with the reference's all-zero salt.
	SecurityKey string
}

// advertiseListener receives advertise datagrams and adds the balancers
// they announce.
type advertiseListener struct {
	a    *Agent
	opts AdvertiseOptions
	conn *net.UDPConn
	seen map[string]int64 // Server -> last Sequence accepted
}

// listenAdvertise joins the group; the listener's run reads until ctx
// ends.
func (a *Agent) listenAdvertise(opts AdvertiseOptions) (*advertiseListener, error) {
	group, err := netip.ParseAddrPort(cmp.Or(opts.Group, mcmp.DefaultAdvertiseGroup))
	if err != nil || !group.Addr().IsMulticast() {
		return nil, fmt.Errorf("agent: advertise group %q: want a multicast ip:port", opts.Group)
	}
	var ifi *net.Interface
	if opts.Interface != "" {
		if ifi, err = net.InterfaceByName(opts.Interface); err != nil {
			return nil, fmt.Errorf("agent: advertise interface: %w", err)
		}
	}
	network := "udp4"
	if group.Addr().Is6() {
		network = "udp6"
	}
	conn, err := net.ListenMulticastUDP(network, ifi, net.UDPAddrFromAddrPort(group))
	if err != nil {
		return nil, fmt.Errorf("agent: join advertise group %s: %w", group, err)
	}
	a.log.Info("listening for advertising balancers", "group", group.String(), "interface", opts.Interface)
	return &advertiseListener{a: a, opts: opts, conn: conn, seen: map[string]int64{}}, nil
}

func (l *advertiseListener) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { l.conn.Close() })
	defer stop()
	defer l.conn.Close()
	buf := make([]byte, 2048)
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("agent: read advertise datagram: %w", err)
		}
		l.handle(buf[:n], from.Addr())
	}
}

// handle checks one datagram and registers with the balancer it
// announces. Datagrams that do not parse (unknown senders), fail the
// digest (forged, or another key) or repeat an old sequence number
// (replayed) are ignored with a log line.
func (l *advertiseListener) handle(b []byte, from netip.Addr) {
	log := l.a.log.With("from", from.String())
	ad, err := mcmp.ParseAdvertisement(b)
	if err != nil {
		log.Debug("ignoring a datagram that is not an advertisement", "err", err)
		return
	}
	if !ad.Verify(l.opts.SecurityKey) {
		log.Warn("ignoring an advertisement with a wrong digest (forged, or another security key)", "server", ad.Server)
		return
	}
	if last, ok := l.seen[ad.Server]; ok && ad.Sequence <= last {
		log.Warn("ignoring a replayed advertisement", "server", ad.Server, "sequence", ad.Sequence)
		return
	}
	l.seen[ad.Server] = ad.Sequence
	if ad.Status != 200 {
		log.Info("balancer announces it is stopping", "server", ad.Server, "status", ad.Status)
		return
	}
	addr := managerAddr(ad.ManagerAddress, from)
	scheme := "http"
	if ad.ManagerProtocol == "https" {
		scheme = "https"
	}
	added, err := l.a.AddProxy(scheme + "://" + addr)
	switch {
	case err != nil:
		log.Warn("ignoring an advertisement with a bad manager address", "address", ad.ManagerAddress, "err", err)
	case added:
		log.Info("balancer heard by advertise", "proxy", scheme+"://"+addr, "server", ad.Server)
	}
}

// managerAddr is X-Manager-Address, with an empty or unspecified host
// replaced by the datagram's source.
func managerAddr(addr string, from netip.Addr) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = from.Unmap().String()
	}
	return net.JoinHostPort(host, port)
}
