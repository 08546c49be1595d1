package mcmpserver

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/barkeep-lb/barkeep/mcmp"
)

// AdvertiseOptions configures the advertise sender (mod_advertise's
// ServerAdvertise, AdvertiseGroup, AdvertiseFrequency,
// AdvertiseSecurityKey, AdvertiseManagerUrl, AdvertiseBindAddress).
// Zero values take the defaults noted.
type AdvertiseOptions struct {
	// ManagerAddress is the manager listener workers should connect to,
	// host:port (X-Manager-Address). Required. An unspecified host
	// (0.0.0.0, ::) is replaced by Interface's first IPv4 address when
	// Interface is set; otherwise workers use the datagram's source.
	ManagerAddress string
	// Protocol is "http" (default) or "https" (X-Manager-Protocol).
	Protocol string
	// Group is the IPv4 multicast group and port; default
	// "224.0.1.105:23364".
	Group string
	// Interval is the time between datagrams; default 10s.
	Interval time.Duration
	// SecurityKey salts the digest; workers with another key ignore the
	// datagrams. Default "" (the reference's all-zero salt).
	SecurityKey string
	// ManagerURL is X-Manager-Url; default "/" + the server id.
	ManagerURL string
	// Interface names the network interface datagrams leave by, such as
	// "eth0"; default "": the system's route for the group.
	Interface string
	// Server identifies this balancer start; default a random UUID.
	Server string
	// Log receives send failures; default discard.
	Log *slog.Logger
}

// Advertiser multicasts the manager listener's address so workers find
// the balancer without configuration (docs/mcmp.md §8): a datagram at start,
// then every Interval, and on the way out "403 Forbidden" and "410 Gone".
type Advertiser struct {
	opts  AdvertiseOptions
	group netip.AddrPort
	ifi   *net.Interface
	seq   int64
	log   *slog.Logger
}

// NewAdvertiser checks opts and returns an Advertiser; it opens nothing.
func NewAdvertiser(opts AdvertiseOptions) (*Advertiser, error) {
	a := &Advertiser{opts: opts}
	a.opts.Group = cmp.Or(opts.Group, mcmp.DefaultAdvertiseGroup)
	a.opts.Interval = cmp.Or(opts.Interval, 10*time.Second)
	a.opts.Protocol = cmp.Or(opts.Protocol, "http")
	a.log = cmp.Or(opts.Log, slog.New(slog.DiscardHandler)).With("component", "advertise")
	g, err := netip.ParseAddrPort(a.opts.Group)
	if err != nil || !g.Addr().Is4() || !g.Addr().IsMulticast() {
		return nil, fmt.Errorf("advertise group %q: want an IPv4 multicast ip:port such as %s", a.opts.Group, mcmp.DefaultAdvertiseGroup)
	}
	a.group = g
	if a.opts.Interval < 0 {
		return nil, errors.New("advertise interval must be positive")
	}
	if a.opts.Protocol != "http" && a.opts.Protocol != "https" {
		return nil, fmt.Errorf("advertise protocol %q: want http or https", a.opts.Protocol)
	}
	if opts.Interface != "" {
		if a.ifi, err = net.InterfaceByName(opts.Interface); err != nil {
			return nil, fmt.Errorf("advertise interface: %w", err)
		}
	}
	if a.opts.ManagerAddress, err = a.managerAddress(opts.ManagerAddress); err != nil {
		return nil, err
	}
	if a.opts.Server == "" {
		a.opts.Server = uuid()
	}
	a.opts.ManagerURL = cmp.Or(a.opts.ManagerURL, "/"+a.opts.Server)
	return a, nil
}

// managerAddress checks addr and fills an unspecified host from the
// interface.
func (a *Advertiser) managerAddress(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "", fmt.Errorf("advertise manager address %q: want host:port", addr)
	}
	ip, err := netip.ParseAddr(host)
	if (host != "" && (err != nil || !ip.IsUnspecified())) || a.ifi == nil {
		return addr, nil
	}
	addrs, err := a.ifi.Addrs()
	if err != nil {
		return "", fmt.Errorf("advertise interface %s: %w", a.ifi.Name, err)
	}
	for _, ad := range addrs {
		if p, err := netip.ParsePrefix(ad.String()); err == nil && p.Addr().Is4() {
			return net.JoinHostPort(p.Addr().String(), port), nil
		}
	}
	return "", fmt.Errorf("advertise interface %s has no IPv4 address for the manager address", a.ifi.Name)
}

// Server is the id the datagrams carry.
func (a *Advertiser) Server() string { return a.opts.Server }

// ManagerAddress is the address the datagrams announce.
func (a *Advertiser) ManagerAddress() string { return a.opts.ManagerAddress }

// Run opens the socket and sends until ctx is done, then sends the two
// shutdown datagrams. It returns an error only when the socket cannot be
// set up; failed sends are logged and retried at the next interval.
func (a *Advertiser) Run(ctx context.Context) error {
	c, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		return fmt.Errorf("advertise socket: %w", err)
	}
	defer c.Close()
	p := ipv4.NewPacketConn(c)
	if err := p.SetMulticastTTL(10); err != nil {
		return fmt.Errorf("advertise socket: multicast TTL: %w", err)
	}
	if err := p.SetMulticastLoopback(true); err != nil {
		return fmt.Errorf("advertise socket: multicast loopback: %w", err)
	}
	if a.ifi != nil {
		if err := p.SetMulticastInterface(a.ifi); err != nil {
			return fmt.Errorf("advertise socket: interface %s: %w", a.ifi.Name, err)
		}
	}
	dst := net.UDPAddrFromAddrPort(a.group)
	send := func(status int) {
		if _, err := c.WriteTo(a.datagram(status, time.Now()), dst); err != nil {
			a.log.Warn("advertise datagram not sent", "group", a.group.String(), "err", err)
		}
	}
	a.log.Info("advertising the manager listener", "group", a.group.String(), "manager", a.opts.ManagerAddress,
		"interval", a.opts.Interval, "server", a.opts.Server)
	send(http.StatusOK)
	tick := time.NewTicker(a.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			send(http.StatusForbidden)
			send(http.StatusGone)
			return nil
		case <-tick.C:
			send(http.StatusOK)
		}
	}
}

// datagram returns the next datagram with status at now.
func (a *Advertiser) datagram(status int, now time.Time) []byte {
	a.seq++
	host, _, _ := net.SplitHostPort(a.opts.ManagerAddress)
	ad := &mcmp.Advertisement{
		Status: status, Date: now.UTC().Format(http.TimeFormat), Sequence: a.seq, Server: a.opts.Server,
		ManagerAddress: a.opts.ManagerAddress, ManagerURL: a.opts.ManagerURL,
		ManagerProtocol: a.opts.Protocol, ManagerHost: host,
	}
	ad.Sign(a.opts.SecurityKey)
	return ad.Marshal()
}

// uuid returns a random (version 4) UUID.
func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
