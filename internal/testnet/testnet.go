// Package testnet gives tests raw TCP servers and free addresses on
// loopback (127.0.0.1), for members that misbehave below HTTP: hung,
// resetting, speaking garbage or AJP.
package testnet

import (
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Serve listens on 127.0.0.1 and runs serve on a goroutine of its own for
// every connection it accepts. When the test ends the listener and every
// accepted connection are closed (serve sees its reads fail). It returns
// the listener's address, "127.0.0.1:PORT"; a failure to listen ends the
// test.
func Serve(tb testing.TB, serve func(net.Conn)) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var conns []net.Conn // the accept loop's until done is closed
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go serve(c)
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// ClosedAddr returns a loopback address, "127.0.0.1:PORT", on which nothing
// listens: a port the kernel just handed out and that was released again,
// so a connection to it is refused.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// FixedAddrs returns n loopback addresses, "127.0.0.1:PORT", free right
// now, for servers that must be told their port before they start (a
// cluster whose members name each other). The ports lie below the
// kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), so
// the outgoing connections and ":0" listeners of tests running meanwhile
// cannot take them before the server binds.
func FixedAddrs(tb testing.TB, n int) []string {
	tb.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 11000 {
				low = v
			}
		}
	}
	var out []string
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			tb.Fatalf("no free loopback port below %d", low)
		}
		addr := "127.0.0.1:" + strconv.Itoa(10000+rand.IntN(low-10000))
		if slices.Contains(out, addr) {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		out = append(out, addr)
	}
	return out
}
