package proxy

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestSniffLeavesTCPConnectionsAsTheyAre: a TCP connection is handed to
// the servers unwrapped (fasthttp writes a big response with one writev
// only on a *net.TCPConn), with nothing of it read: an HTTP/1 request, an
// HTTP/2 preface arriving in two pieces, and a short request under the
// preface's length are all told apart and still there to read whole.
func TestSniffLeavesTCPConnectionsAsTheyAre(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tt := range []struct {
		name   string
		pieces []string
		h2     bool
	}{
		{"HTTP/1.1 request", []string{"GET /bar/ HTTP/1.1\r\nHost: lb\r\n\r\n"}, false},
		{"HTTP/2 preface in two pieces", []string{h2Preface[:9], h2Preface[9:] + "frames"}, true},
		{"short request", []string{"GET /\r\n\r\n"}, false},
		{"starts like the preface", []string{"PRI * HTTP/1.1\r\n\r\n"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			go func() {
				for i, p := range tt.pieces {
					if i > 0 {
						time.Sleep(20 * time.Millisecond) // a second segment, after the first was peeked at
					}
					client.Write([]byte(p))
				}
			}()
			got, h2, err := sniff(server, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got != server {
				t.Errorf("sniff returned %T, want the *net.TCPConn itself", got)
			}
			if h2 != tt.h2 {
				t.Errorf("h2 = %v, want %v", h2, tt.h2)
			}
			var want string
			for _, p := range tt.pieces {
				want += p
			}
			buf := make([]byte, len(want))
			server.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(server, buf); err != nil || string(buf) != want {
				t.Errorf("read after sniffing: %q, %v; want %q", buf, err, want)
			}
		})
	}
}

// TestSniffClosedBeforeAByte: a connection closed before sending anything
// is an error, not a request.
func TestSniffClosedBeforeAByte(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	client.Close()
	if c, _, err := sniff(server, 5*time.Second); err == nil || c != nil {
		t.Errorf("sniff of a closed connection: %v, %v; want an error", c, err)
	}
}
