package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// TestStreamedBodyGivesItsConnectionBackWithItsSlot: a member with max 1
// whose response body streams (bigger than buffer_body). Once the member
// has sent the whole body, the request gives up its member slot
// (memberDone) while the client may still be taking the last bytes; its
// connection must be back in the pool by then, or the next request, let
// through by the balancer (Busy < Max), finds max connections open and
// none idle and is refused with 503 (errMemberMax).
func TestStreamedBodyGivesItsConnectionBackWithItsSlot(t *testing.T) {
	const size = 256 << 10
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		io.WriteString(w, strings.Repeat("x", size))
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	s := transportSettings{scheme: "http", host: l.Addr().String(), connTimeout: time.Second,
		timeout: 5 * time.Second, max: 1, smax: 4, ttl: time.Minute}
	tr := newH1Transport(s, &connSet{}, 64<<10)
	t.Cleanup(tr.closeIdle)
	h := &Handler{now: time.Now, log: slog.New(slog.DiscardHandler)}
	m := &registry.Member{Name: "http://" + s.host, Max: 1, Stats: &registry.Stats{}}
	for i := range 3 {
		x := &exchange{h: h, member: m, req: new(fasthttp.Request), mresp: new(fasthttp.Response)}
		x.req.SetRequestURI("http://" + s.host + "/big")
		if err := tr.roundTrip(x); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		if x.mbody == nil {
			t.Fatal("the body did not stream")
		}
		n, err := io.Copy(io.Discard, x) // as the edge does, up to the member's EOF
		if err != nil || n != size {
			t.Fatalf("request %d: read %d bytes, %v", i+1, n, err)
		}
		if !x.mdone {
			t.Fatal("the member slot was not given back at the body's end")
		}
		// The edge is still writing the last bytes to the client; the slot
		// is free, so the balancer lets the next request through.
		if c, err := tr.pool.get(); errors.Is(err, errMemberMax) {
			t.Errorf("request %d: member slot free but its connection still held: %v", i+1, err)
		} else if err == nil {
			tr.putBack(c, time.Now().UnixNano())
		}
		if x.mrelease != nil { // what CloseWithError does once the client has it all
			x.mrelease(x.mclean)
		}
	}
}
