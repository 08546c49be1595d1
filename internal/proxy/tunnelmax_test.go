package proxy_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestOpenTunnelDoesNotRefuseRequestsAtOnce: a member with max 1 holds
// one WebSocket tunnel. The tunnel gave its member slot back when it was
// set up, and its connection no longer counts against max either, so a
// plain request to the member is served, not refused with 503.
func TestOpenTunnelDoesNotRefuseRequestsAtOnce(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/ws") {
			wsEcho(w, r)
			return
		}
		pubHandler("ws").ServeHTTP(w, r)
	}))
	t.Cleanup(ws.Close)
	m := member(ws, "ws")
	m.Max = 1
	b := web(m)
	b.Timeout = 300 * time.Millisecond
	f := newFixture(t, b)
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	key := base64.StdEncoding.EncodeToString([]byte("barkeep-ws-key!!"))
	fmt.Fprintf(conn, "GET /bar/ws HTTP/1.1\r\nHost: pubs\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", key)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatal(res, err)
	}
	start := time.Now()
	status, body, _ := f.get(t, "/bar/", "")
	waited := time.Since(start)
	if status == http.StatusServiceUnavailable && waited < b.Timeout {
		t.Errorf("GET while the member's one connection is a tunnel: %d %q after %v; want it served or queued for the balancer's timeout (%v)",
			status, body, waited.Round(time.Millisecond), b.Timeout)
	}
}
