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

// TestTunnelOutlivesTheMemberTimeout: the member's timeout bounds the wait
// for its response headers, not the life of a WebSocket tunnel: the read
// deadline set for the 101's headers must not cut the tunnel once the
// timeout has passed since the upgrade.
func TestTunnelOutlivesTheMemberTimeout(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(wsEcho))
	t.Cleanup(ws.Close)
	m := member(ws, "ws")
	m.Timeout = 300 * time.Millisecond
	f := newFixture(t, web(m))

	conn, err := net.Dial("tcp", strings.TrimPrefix(f.front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	key := base64.StdEncoding.EncodeToString([]byte("barkeep-ws-key!!"))
	fmt.Fprintf(conn, "GET /bar/ws HTTP/1.1\r\nHost: pubs\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", key)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", res, err)
	}
	// Messages every 100 ms for 3× the timeout: the tunnel is never idle
	// for long.
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	for i := range 9 {
		time.Sleep(100 * time.Millisecond)
		msg := fmt.Sprint("round ", i)
		if _, err := conn.Write(wsFrame(msg, []byte{1, 2, 3, 4})); err != nil {
			t.Fatalf("after %d messages: %v", i, err)
		}
		got, err := wsRead(br)
		if err != nil || got != "echo: "+msg {
			t.Fatalf("message %d, %v after the upgrade: got %q, %v", i, time.Duration(i+1)*100*time.Millisecond, got, err)
		}
	}
}
