package ajp_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/barkeep-lb/barkeep/ajp"
)

func TestForwardRequestRoundTrip(t *testing.T) {
	for _, fr := range []*ajp.ForwardRequest{
		{Method: "GET", Protocol: "HTTP/1.1", URI: "/app/a%20b", RemoteAddr: "10.0.0.9", RemoteHost: "10.0.0.9",
			ServerName: "shop.example.com", ServerPort: 443, IsSSL: true,
			Headers:     []ajp.Header{{"host", "shop.example.com"}, {"cookie", "JSESSIONID=a.node1"}, {"X-Custom", "1"}, {"X-Empty", ""}},
			QueryString: "q=1&r=2", Route: "node1", Secret: "s3cret", SSLCipher: "TLS_AES_128_GCM_SHA256", SSLKeySize: 128,
			SSLCert: "-----BEGIN CERTIFICATE-----\n...", Attributes: []ajp.Header{{"AJP_REMOTE_PORT", "50000"}, {"AJP_LOCAL_ADDR", "10.0.0.1"}}},
		{Method: "PATCH", Protocol: "HTTP/1.1", URI: "/x", RemoteAddr: "::1", RemoteHost: "::1", ServerName: "h", ServerPort: 80},
		{Method: "MKACTIVITY", Protocol: "HTTP/1.0", URI: "/", ServerName: "h", ServerPort: 8080},
	} {
		got, err := ajp.ParseForwardRequest(fr.AppendPayload(nil))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fr, got); diff != "" {
			t.Errorf("forward request round trip (-sent +decoded):\n%s", diff)
		}
	}
	sh := &ajp.SendHeaders{Status: 302, Message: "Found", Headers: []ajp.Header{{"Location", "/x"}, {"Set-Cookie", "a=b"}, {"X-Thing", "y"}}}
	got, err := ajp.ParseSendHeaders(sh.AppendPayload(nil))
	if err != nil || !cmp.Equal(sh, got) {
		t.Errorf("send headers round trip: %+v, %v", got, err)
	}
	data, err := ajp.BodyChunk(ajp.AppendBodyChunk(nil, []byte("pint")))
	if err != nil || string(data) != "pint" {
		t.Errorf("body chunk round trip: %q %v", data, err)
	}
	// Coded request headers take two bytes instead of a string.
	short := (&ajp.ForwardRequest{Method: "GET", Headers: []ajp.Header{{"User-Agent", "x"}}}).AppendPayload(nil)
	long := (&ajp.ForwardRequest{Method: "GET", Headers: []ajp.Header{{"User-Agenx", "x"}}}).AppendPayload(nil)
	if len(long)-len(short) != len("User-Agenx")+1 {
		t.Errorf("user-agent not sent as a header code (%d vs %d bytes)", len(short), len(long))
	}
}

func get(t *testing.T, tr *ajp.Transport, c *container, method, path string, body io.Reader, size int64) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "ajp://"+c.addr()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.RemoteAddr = "192.0.2.7:51234"
	req.Header.Set("User-Agent", "barkeep-test")
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return res, b
}

func TestGet(t *testing.T) {
	var seen *ajp.ForwardRequest
	c := newContainer(t, ajp.DefaultPacketSize, func(s *stream, fr *ajp.ForwardRequest) {
		seen = fr
		s.headers(200, ajp.Header{"Content-Type", "text/plain"}, ajp.Header{"Content-Length", "11"}, ajp.Header{"Set-Cookie", "JSESSIONID=S.tc1"}, ajp.Header{"X-Route", "tc1"})
		s.write([]byte("hello "))
		s.write([]byte("world"))
		s.end()
	})
	tr := &ajp.Transport{Secret: "s3cret", Route: "tc1"}
	res, body := get(t, tr, c, "GET", "/app/caf%C3%A9?q=1", nil, 0)
	if res.StatusCode != 200 || string(body) != "hello world" || res.ContentLength != 11 ||
		res.Header.Get("Set-Cookie") != "JSESSIONID=S.tc1" || res.Header.Get("X-Route") != "tc1" || res.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("response %d %q %v", res.StatusCode, body, res.Header)
	}
	want := &ajp.ForwardRequest{Method: "GET", Protocol: "HTTP/1.1", URI: "/app/caf%C3%A9", RemoteAddr: "192.0.2.7", RemoteHost: "192.0.2.7",
		ServerName: "127.0.0.1", ServerPort: seen.ServerPort, QueryString: "q=1", Route: "tc1", Secret: "s3cret",
		Headers:    []ajp.Header{{"host", c.addr()}, {"user-agent", "barkeep-test"}},
		Attributes: []ajp.Header{{"AJP_REMOTE_PORT", "51234"}}}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("forward request (-want +got):\n%s", diff)
	}
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// echoSum answers the SHA-256 of the request body it reads.
func echoSum(s *stream, fr *ajp.ForwardRequest) {
	body, err := s.readBody()
	if err != nil {
		s.reuse = false
		return
	}
	s.headers(200)
	s.write([]byte(sha(body)))
	s.end()
}

func TestPostLargeBodies(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16) // 10 MiB
	c := newContainer(t, ajp.DefaultPacketSize, echoSum)
	tr := &ajp.Transport{}
	for _, tt := range []struct {
		name string
		size int64
	}{{"content-length", int64(len(payload))}, {"chunked", -1}} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, tr, c, "POST", "/upload", bytes.NewReader(payload), tt.size)
			if res.StatusCode != 200 || string(body) != sha(payload) {
				t.Errorf("10 MiB POST (%s): %d, container got a body with sum %s, want %s", tt.name, res.StatusCode, body, sha(payload))
			}
		})
	}
	if n := c.conns.Load(); n != 1 {
		t.Errorf("%d connections for sequential requests, want 1 (reuse)", n)
	}
}

func TestUnreadBodyIsSwallowed(t *testing.T) {
	// The container answers without reading the body; the connection is
	// still reusable (the container swallows the first chunk).
	c := newContainer(t, ajp.DefaultPacketSize, func(s *stream, fr *ajp.ForwardRequest) {
		if s.contentLength > 0 {
			ajp.ReadPacket(s.br, s.buf, ajp.MagicToContainer)
		}
		s.headers(413)
		s.end()
	})
	tr := &ajp.Transport{}
	for range 3 {
		if res, _ := get(t, tr, c, "POST", "/", strings.NewReader(strings.Repeat("x", 100)), 100); res.StatusCode != 413 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	if n := c.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestLargeHeaders(t *testing.T) {
	c := newContainer(t, 65536, func(s *stream, fr *ajp.ForwardRequest) {
		s.headers(200)
		for _, h := range fr.Headers {
			if h.Name == "X-Big" {
				s.write([]byte(h.Value))
			}
		}
		s.end()
	})
	big := strings.Repeat("b", 7000)
	req := func(tr *ajp.Transport, value string) (*http.Response, error) {
		r, _ := http.NewRequest("GET", "ajp://"+c.addr()+"/", nil)
		r.Header.Set("X-Big", value)
		return tr.RoundTrip(r)
	}
	res, err := req(&ajp.Transport{}, big)
	if err != nil {
		t.Fatalf("7000-byte header in an 8 KiB packet: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != big {
		t.Errorf("header value came back with %d bytes", len(b))
	}
	if _, err := req(&ajp.Transport{}, strings.Repeat("b", 9000)); !errors.Is(err, ajp.ErrHeadersTooLarge) {
		t.Errorf("9000-byte header with 8 KiB packets: %v, want ErrHeadersTooLarge", err)
	}
	res, err = req(&ajp.Transport{PacketSize: 65536}, strings.Repeat("b", 30000))
	if err != nil {
		t.Fatalf("30000-byte header with 64 KiB packets: %v", err)
	}
	res.Body.Close()
}

func TestCPing(t *testing.T) {
	c := newContainer(t, ajp.DefaultPacketSize, func(s *stream, fr *ajp.ForwardRequest) {
		s.headers(204)
		s.end()
	})
	tr := &ajp.Transport{PingTimeout: time.Second}
	if err := tr.Ping(t.Context(), c.addr(), time.Second); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	for range 3 {
		if res, _ := get(t, tr, c, "GET", "/", nil, 0); res.StatusCode != 204 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	if n := c.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (one for Ping, one reused for the requests)", n)
	}
}

func TestSilentContainer(t *testing.T) {
	c := newContainer(t, ajp.DefaultPacketSize, nil)
	c.silent = true
	start := time.Now()
	err := (&ajp.Transport{}).Ping(t.Context(), c.addr(), 100*time.Millisecond)
	if !errors.Is(err, ajp.ErrPing) {
		t.Errorf("Ping of a container that never answers: %v, want ErrPing", err)
	}
	req, _ := http.NewRequest("GET", "ajp://"+c.addr()+"/", nil)
	_, err = (&ajp.Transport{PingTimeout: 100 * time.Millisecond}).RoundTrip(req)
	if !errors.Is(err, ajp.ErrPing) {
		t.Errorf("request with ping= to a container that never answers: %v, want ErrPing", err)
	}
	// Without ping=, the response header timeout ends the wait.
	_, err = (&ajp.Transport{ResponseHeaderTimeout: 100 * time.Millisecond}).RoundTrip(req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("request to a container that never answers: %v, want a timeout", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("the silent container held the requests far beyond their timeouts")
	}
}

func TestNoReuseAndHead(t *testing.T) {
	c := newContainer(t, ajp.DefaultPacketSize, func(s *stream, fr *ajp.ForwardRequest) {
		s.headers(200, ajp.Header{"Content-Length", "5"})
		if fr.Method != "HEAD" {
			s.write([]byte("hello"))
		}
		s.reuse = fr.Method == "HEAD"
		s.end()
	})
	tr := &ajp.Transport{}
	if res, _ := get(t, tr, c, "HEAD", "/", nil, 0); res.ContentLength != 0 || res.Header.Get("Content-Length") != "5" {
		t.Errorf("HEAD: length %d header %q", res.ContentLength, res.Header.Get("Content-Length"))
	}
	get(t, tr, c, "HEAD", "/", nil, 0)
	if n := c.conns.Load(); n != 1 {
		t.Errorf("HEAD requests used %d connections, want 1", n)
	}
	get(t, tr, c, "GET", "/", nil, 0) // END_RESPONSE without reuse
	get(t, tr, c, "GET", "/", nil, 0)
	if n := c.conns.Load(); n != 2 {
		t.Errorf("%d connections, want a new one after reuse=0", n)
	}
}

func TestStaleConnectionIsRetried(t *testing.T) {
	// The container closes the connection after each response while saying
	// reuse: the next request finds it dead and goes on a fresh one.
	c := newContainer(t, ajp.DefaultPacketSize, func(s *stream, fr *ajp.ForwardRequest) {
		s.headers(200)
		s.end()
		s.nc.Close()
	})
	tr := &ajp.Transport{}
	for range 3 {
		if res, _ := get(t, tr, c, "GET", "/", nil, 0); res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
}

func TestTLSClientInformation(t *testing.T) {
	var seen *ajp.ForwardRequest
	c := newContainer(t, ajp.DefaultPacketSize, func(s *stream, fr *ajp.ForwardRequest) {
		seen = fr
		s.headers(200)
		s.end()
	})
	req, _ := http.NewRequest("GET", "ajp://"+c.addr()+"/secure", nil)
	req.Host = "shop.example.com"
	req.TLS = tlsState()
	res, err := (&ajp.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !seen.IsSSL || seen.ServerName != "shop.example.com" || seen.ServerPort != 443 || seen.SSLCipher != "TLS_AES_128_GCM_SHA256" ||
		seen.SSLKeySize != 128 || !strings.HasPrefix(seen.SSLCert, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("TLS details: %+v", seen)
	}
	if !cmp.Equal(seen.Attributes, []ajp.Header{{"AJP_SSL_PROTOCOL", "TLSv1.3"}}) {
		t.Errorf("attributes %v", seen.Attributes)
	}
}

func TestFlushPackets(t *testing.T) {
	c := newContainer(t, ajp.DefaultPacketSize, func(s *stream, fr *ajp.ForwardRequest) {
		s.headers(200, ajp.Header{Name: "Content-Length", Value: "4"})
		s.write([]byte("ping"))
		s.end()
	})
	res, body := get(t, &ajp.Transport{FlushPackets: true}, c, "GET", "/", nil, 0)
	if res.ContentLength != -1 || res.Header.Get("Content-Length") != "4" || string(body) != "ping" {
		t.Errorf("flushpackets: length %d (want -1 so each chunk is flushed), header %q, body %q",
			res.ContentLength, res.Header.Get("Content-Length"), body)
	}
}
