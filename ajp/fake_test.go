package ajp_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/barkeep-lb/barkeep/ajp"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// container is a fake AJP13 container on loopback, written with the
// package's own codec as a container would use it.
type container struct {
	address string
	conns   atomic.Int32
	handler func(s *stream, fr *ajp.ForwardRequest)
	// silent makes the container accept connections and never answer.
	silent bool
	// ended gets a value each time a connection ends (the client closed
	// it, or the container did); values beyond its buffer are dropped.
	ended chan struct{}
}

// stream is the container's side of one connection.
type stream struct {
	nc   net.Conn
	br   *bufio.Reader
	buf  []byte
	size int // packet size
	// contentLength of the current request, -1 when unknown.
	contentLength int64
	first         bool
	reuse         bool
}

func newContainer(t *testing.T, packetSize int, handler func(s *stream, fr *ajp.ForwardRequest)) *container {
	t.Helper()
	c := &container{handler: handler, ended: make(chan struct{}, 16)}
	c.address = testnet.Serve(t, func(nc net.Conn) {
		c.conns.Add(1)
		c.serve(&stream{nc: nc, br: bufio.NewReader(nc), buf: make([]byte, packetSize), size: packetSize})
	})
	return c
}

func (c *container) addr() string { return c.address }

func (c *container) serve(s *stream) {
	defer func() {
		s.nc.Close()
		select {
		case c.ended <- struct{}{}:
		default:
		}
	}()
	for {
		p, err := ajp.ReadPacket(s.br, s.buf, ajp.MagicToContainer)
		if err != nil || c.silent {
			if c.silent {
				io.Copy(io.Discard, s.nc)
			}
			return
		}
		switch p[0] {
		case ajp.CodeCPing:
			s.nc.Write(ajp.AppendPacket(nil, ajp.MagicFromContainer, []byte{ajp.CodeCPong}))
		case ajp.CodeForwardRequest:
			fr, err := ajp.ParseForwardRequest(p)
			if err != nil {
				return
			}
			s.contentLength, s.first, s.reuse = -1, true, true
			for _, h := range fr.Headers {
				if h.Name == "content-length" || h.Name == "Content-Length" {
					s.contentLength, _ = strconv.ParseInt(h.Value, 10, 64)
				}
			}
			c.handler(s, fr)
			if !s.reuse {
				return
			}
		default:
			return
		}
	}
}

// readBody reads the whole request body as Tomcat does: the first chunk
// arrives by itself when the length is known, then GET_BODY_CHUNK for more.
func (s *stream) readBody() ([]byte, error) {
	var body []byte
	for s.contentLength != 0 {
		if !(s.first && s.contentLength > 0) {
			want := binary.BigEndian.AppendUint16([]byte{ajp.CodeGetBodyChunk}, uint16(s.size-6))
			if _, err := s.nc.Write(ajp.AppendPacket(nil, ajp.MagicFromContainer, want)); err != nil {
				return nil, err
			}
		}
		s.first = false
		p, err := ajp.ReadPacket(s.br, s.buf, ajp.MagicToContainer)
		if err != nil {
			return nil, err
		}
		if len(p) < 2 {
			return body, nil // the empty packet: end of body
		}
		n := int(binary.BigEndian.Uint16(p))
		if n+2 > len(p) {
			return nil, errors.New("body chunk longer than its packet")
		}
		body = append(body, p[2:2+n]...)
		if s.contentLength > 0 && int64(len(body)) >= s.contentLength {
			return body, nil
		}
	}
	return body, nil
}

func (s *stream) headers(status int, headers ...ajp.Header) {
	sh := ajp.SendHeaders{Status: status, Message: "Msg", Headers: headers}
	s.nc.Write(ajp.AppendPacket(nil, ajp.MagicFromContainer, sh.AppendPayload(nil)))
}

func (s *stream) write(data []byte) {
	for len(data) > 0 {
		n := min(len(data), s.size-8)
		s.nc.Write(ajp.AppendPacket(nil, ajp.MagicFromContainer, ajp.AppendBodyChunk(nil, data[:n])))
		data = data[n:]
	}
}

func (s *stream) end() {
	reuse := byte(0)
	if s.reuse {
		reuse = 1
	}
	s.nc.Write(ajp.AppendPacket(nil, ajp.MagicFromContainer, []byte{ajp.CodeEndResponse, reuse}))
}
