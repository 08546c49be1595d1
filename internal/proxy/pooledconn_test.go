package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// rawMember serves HTTP/1.1 by hand on loopback: answer is called for each
// request read on a connection (n counts requests across connections, from
// 1) and returns the bytes to write back.
func rawMember(t *testing.T, answer func(n int64, req *http.Request) string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if _, err := io.WriteString(c, answer(n.Add(1), req)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// TestMemberBytesBeyondTheResponseAreNotTheNextResponse: a member that sends
// more than its response (a body on a HEAD answer, more bytes than its
// Content-Length) in one write leaves them in the connection's read
// buffer. That connection must not carry another request: the next client
// would get those bytes as its response, and the responses on the
// connection would be off by one from then on.
func TestMemberBytesBeyondTheResponseAreNotTheNextResponse(t *testing.T) {
	for _, tc := range []struct {
		name, method, first string
	}{
		{"extra response", http.MethodGet,
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst" +
				"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"},
		{"body on HEAD", http.MethodHead,
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawMember(t, func(n int64, req *http.Request) string {
				if n == 1 {
					return tc.first
				}
				return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh"
			})
			f := newFixture(t, web(memberAt(addr, "raw")))
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, f.front.URL+"/bar/", nil)
			res, err := f.front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			for i := range 3 {
				status, body, _ := f.get(t, "/bar/", "")
				if status != http.StatusOK || body != "fresh" {
					t.Fatalf("request %d after the first: %d %q, want 200 %q", i+2, status, body, "fresh")
				}
			}
			if strings.Contains(f.access.String(), "EVIL") {
				t.Error("unasked bytes reached the access log")
			}
		})
	}
}
