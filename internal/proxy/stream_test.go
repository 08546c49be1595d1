package proxy_test

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsFrame encodes one short text frame, masked as a client must.
func wsFrame(payload string, mask []byte) []byte {
	b := []byte{0x81, byte(len(payload))}
	if mask != nil {
		b[1] |= 0x80
		b = append(b, mask...)
	}
	for i := range len(payload) {
		c := payload[i]
		if mask != nil {
			c ^= mask[i%4]
		}
		b = append(b, c)
	}
	return b
}

// wsRead decodes one short frame from r.
func wsRead(r *bufio.Reader) (string, error) {
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return "", err
	}
	n := int(hdr[1] & 0x7f)
	var mask []byte
	if hdr[1]&0x80 != 0 {
		mask = make([]byte, 4)
		if _, err := io.ReadFull(r, mask); err != nil {
			return "", err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return "", err
	}
	for i := range p {
		if mask != nil {
			p[i] ^= mask[i%4]
		}
	}
	return string(p), nil
}

// wsEcho is a WebSocket server that echoes text frames.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "want a websocket upgrade", http.StatusBadRequest)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		wsAccept(r.Header.Get("Sec-WebSocket-Key")))
	rw.Flush()
	for {
		msg, err := wsRead(rw.Reader)
		if err != nil {
			return
		}
		rw.Write(wsFrame("echo: "+msg, nil))
		rw.Flush()
	}
}

// wsUpgrade opens a connection to f's front and asks for a WebSocket on
// /bar/ws; it returns the connection (closed when the test ends), its
// reader, the response to the upgrade and the key it sent.
func wsUpgrade(t *testing.T, f *fixture) (net.Conn, *bufio.Reader, *http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	key := base64.StdEncoding.EncodeToString([]byte("barkeep-ws-key!!"))
	fmt.Fprintf(conn, "GET /bar/ws HTTP/1.1\r\nHost: pubs\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", key)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, br, res, key
}

func TestWebSocketEcho(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(wsEcho))
	t.Cleanup(ws.Close)
	f := newFixture(t, web(member(ws, "ws")))

	conn, br, res, key := wsUpgrade(t, f)
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) {
		t.Fatalf("handshake through the proxy: %s, accept %q", res.Status, res.Header.Get("Sec-WebSocket-Accept"))
	}
	for _, msg := range []string{"a pint", "of bitter", "please"} {
		if _, err := conn.Write(wsFrame(msg, []byte{1, 2, 3, 4})); err != nil {
			t.Fatal(err)
		}
		got, err := wsRead(br)
		if err != nil {
			t.Fatal(err)
		}
		if got != "echo: "+msg {
			t.Errorf("echo = %q, want %q", got, "echo: "+msg)
		}
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// resetPeakRSS makes VmHWM start again from the current RSS.
func resetPeakRSS(t *testing.T) {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
}

func TestLargeBodiesStreamWithBoundedMemory(t *testing.T) {
	const size = 100 << 20
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			w.Header().Set("Content-Length", strconv.Itoa(size))
			io.Copy(w, io.LimitReader(zeros{}, size))
		case http.MethodPost:
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, n)
		}
	}))
	t.Cleanup(backend.Close)
	f := newFixture(t, web(member(backend, "big")))
	f.get(t, "/bar/warm-up?size=0", "") // first connections, buffers and goroutines

	resetPeakRSS(t)
	base := peakRSS(t)

	res, err := f.front.Client().Post(f.front.URL+"/bar/up", "application/octet-stream", io.LimitReader(zeros{}, size))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != strconv.Itoa(size) {
		t.Fatalf("100 MiB upload: %d %q", res.StatusCode, body)
	}

	res, err = f.front.Client().Get(f.front.URL + "/bar/down")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil || n != size {
		t.Fatalf("100 MiB download: got %d bytes, %v", n, err)
	}

	growth := peakRSS(t) - base
	t.Logf("peak RSS growth for 100 MiB up + 100 MiB down: %.1f MiB", float64(growth)/(1<<20))
	if growth >= 32<<20 {
		t.Errorf("peak RSS grew by %.1f MiB while streaming 100 MiB each way, want < 32 MiB", float64(growth)/(1<<20))
	}
	m := f.member("big")
	if m.Stats.Transferred.Load() != size || m.Stats.Read.Load() < size {
		t.Errorf("bytes to %d from %d, want %d each", m.Stats.Transferred.Load(), m.Stats.Read.Load(), size)
	}
}

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

	conn, br, res, _ := wsUpgrade(t, f)
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v", res.Status)
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
	_, _, res, _ := wsUpgrade(t, f)
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatal(res.Status)
	}
	start := time.Now()
	status, body, _ := f.get(t, "/bar/", "")
	waited := time.Since(start)
	if status == http.StatusServiceUnavailable && waited < b.Timeout {
		t.Errorf("GET while the member's one connection is a tunnel: %d %q after %v; want it served or queued for the balancer's timeout (%v)",
			status, body, waited.Round(time.Millisecond), b.Timeout)
	}
}
