package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/ajp"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// ajpContainer serves AJP13 on loopback: it answers every forward request
// with a body naming route and what it was told about the client. With
// silent it accepts and never answers.
func ajpContainer(t *testing.T, route string, silent bool) string {
	t.Helper()
	return testnet.Serve(t, func(nc net.Conn) {
		if silent {
			io.Copy(io.Discard, nc)
			return
		}
		br := bufio.NewReader(nc)
		buf := make([]byte, ajp.DefaultPacketSize)
		for {
			p, err := ajp.ReadPacket(br, buf, ajp.MagicToContainer)
			if err != nil {
				return
			}
			if p[0] == ajp.CodeCPing {
				nc.Write(ajp.AppendPacket(nil, ajp.MagicFromContainer, []byte{ajp.CodeCPong}))
				continue
			}
			fr, err := ajp.ParseForwardRequest(p)
			if err != nil {
				return
			}
			host, cookie := "", ""
			for _, h := range fr.Headers {
				switch strings.ToLower(h.Name) {
				case "host":
					host = h.Value
				case "cookie":
					cookie = h.Value
				}
			}
			body := route + " uri=" + fr.URI + " remote=" + fr.RemoteAddr + " host=" + host + " secret=" + fr.Secret + " cookie=" + cookie
			sh := ajp.SendHeaders{Status: 200, Headers: []ajp.Header{{Name: "Set-Cookie", Value: "JSESSIONID=S." + route + "; Path=/bar"}}}
			out := ajp.AppendPacket(nil, ajp.MagicFromContainer, sh.AppendPayload(nil))
			out = ajp.AppendPacket(out, ajp.MagicFromContainer, ajp.AppendBodyChunk(nil, []byte(body)))
			out = ajp.AppendPacket(out, ajp.MagicFromContainer, []byte{ajp.CodeEndResponse, 1})
			nc.Write(out)
		}
	})
}

func ajpMember(addr, route string) *registry.Member {
	m := memberAt(addr, route)
	m.URL.Scheme = "ajp"
	m.Name = m.URL.String()
	return m
}

func TestAJPMembers(t *testing.T) {
	tc1, tc2 := ajpMember(ajpContainer(t, "tc1", false), "tc1"), ajpMember(ajpContainer(t, "tc2", false), "tc2")
	tc1.Secret, tc2.Secret = "s3cret", "s3cret"
	f := newFixture(t, web(tc1, tc2))
	seen := map[string]int{}
	for range 10 {
		status, body, _ := f.get(t, "/bar/x%20y", "")
		if status != 200 {
			t.Fatalf("status %d %q", status, body)
		}
		seen[strings.Fields(body)[0]]++
		frontHost := strings.TrimPrefix(f.front.URL, "http://")
		if !strings.Contains(body, "uri=/bar/x%20y remote=127.0.0.1 host="+frontHost+" secret=s3cret") {
			t.Errorf("container saw %q", body)
		}
	}
	if seen["tc1"] != 5 || seen["tc2"] != 5 {
		t.Errorf("ajp members shares %v", seen)
	}
	for range 10 {
		if _, body, _ := f.get(t, "/bar/", "S.tc2"); !strings.HasPrefix(body, "tc2 ") || !strings.Contains(body, "cookie=JSESSIONID=S.tc2") {
			t.Fatalf("sticky ajp request: %q", body)
		}
	}
}

func TestAJPPingTimeoutFailsOver(t *testing.T) {
	hung := ajpMember(ajpContainer(t, "hung", true), "hung")
	hung.Ping = 100 * time.Millisecond
	ok := ajpMember(ajpContainer(t, "ok", false), "ok")
	f := newFixture(t, web(hung, ok)) // byrequests tries hung first
	status, body, _ := f.get(t, "/bar/", "")
	if status != 200 || !strings.HasPrefix(body, "ok ") {
		t.Fatalf("first member never answers CPING: %d %q, want the request served by the other", status, body)
	}
	if !f.member("hung").InError(f.clock.Now().UnixNano()) {
		t.Error("member without CPONG not in error state")
	}
	// A POST with a body may also go elsewhere: nothing was sent.
	f.clock.Advance(f.member("hung").Retry) // its retry is due
	f.member("hung").Stats.Elected.Store(0)
	res, err := f.front.Client().Post(f.front.URL+"/bar/", "text/plain", strings.NewReader("data"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Set-Cookie") != "JSESSIONID=S.ok; Path=/bar" {
		t.Errorf("POST after a failed CPING: %d %q", res.StatusCode, res.Header.Get("Set-Cookie"))
	}
	if f.member("hung").Stats.Elected.Load() != 1 {
		t.Error("the POST did not try the hung member first")
	}
}
