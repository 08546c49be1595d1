package ajp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Packet framing: every packet is a two-byte magic, a two-byte big-endian
// payload length, and the payload. The magic tells the direction.
const (
	// MagicToContainer starts packets from the web server (0x12 0x34).
	MagicToContainer = 0x1234
	// MagicFromContainer starts packets from the container ("AB").
	MagicFromContainer = 0x4142
	// DefaultPacketSize is the largest packet, header included, unless
	// both sides are configured otherwise (Tomcat's packetSize).
	DefaultPacketSize = 8192
	// headerLen is the magic and the length.
	headerLen = 4
	// MaxBodyChunk is the most request body one default-size packet
	// carries: the packet minus its header and the chunk length.
	MaxBodyChunk = DefaultPacketSize - headerLen - 2
)

// Prefix codes: the first payload byte of a packet.
const (
	// To the container.
	CodeForwardRequest = 2
	CodeShutdown       = 7
	CodeCPing          = 10
	// From the container.
	CodeSendBodyChunk = 3
	CodeSendHeaders   = 4
	CodeEndResponse   = 5
	CodeGetBodyChunk  = 6
	CodeCPong         = 9
)

// Attribute codes of a forward request.
const (
	attrContext     = 0x01
	attrServletPath = 0x02
	attrRemoteUser  = 0x03
	attrAuthType    = 0x04
	attrQueryString = 0x05
	attrRoute       = 0x06
	attrSSLCert     = 0x07
	attrSSLCipher   = 0x08
	attrSSLSession  = 0x09
	attrReq         = 0x0A
	attrSSLKeySize  = 0x0B
	attrSecret      = 0x0C
	attrMethod      = 0x0D
	attrDone        = 0xFF
)

// methods lists the methods with a one-byte code (code = index + 1);
// others travel as code 0xFF with the stored-method attribute.
var methods = [...]string{"OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "PROPFIND", "PROPPATCH",
	"MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "ACL", "REPORT", "VERSION-CONTROL", "CHECKIN", "CHECKOUT",
	"UNCHECKOUT", "SEARCH", "MKWORKSPACE", "UPDATE", "LABEL", "MERGE", "BASELINE-CONTROL", "MKACTIVITY"}

const storedMethod = 0xFF

// requestHeaders have a two-byte code 0xA0nn (n = index + 1).
var requestHeaders = [...]string{"accept", "accept-charset", "accept-encoding", "accept-language", "authorization",
	"connection", "content-type", "content-length", "cookie", "cookie2", "host", "pragma", "referer", "user-agent"}

// responseHeaders have a two-byte code 0xA0nn (n = index + 1).
var responseHeaders = [...]string{"Content-Type", "Content-Language", "Content-Length", "Date", "Last-Modified",
	"Location", "Set-Cookie", "Set-Cookie2", "Servlet-Engine", "Status", "WWW-Authenticate"}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("ajp: malformed packet")

// Header is one header line, in order.
type Header struct{ Name, Value string }

// ForwardRequest is the AJP13_FORWARD_REQUEST message: the request line,
// who the client is, the headers and the attributes.
type ForwardRequest struct {
	Method     string
	Protocol   string // "HTTP/1.1"
	URI        string // path, still percent-encoded; the query travels as QueryString
	RemoteAddr string // client IP
	RemoteHost string // client host name, or its IP
	ServerName string // host the client asked for
	ServerPort int    // port the client connected to
	IsSSL      bool   // the client connection is TLS
	Headers    []Header

	QueryString string
	Route       string // the session's (or member's) jvmRoute
	Secret      string // shared with the connector's secret
	RemoteUser  string
	AuthType    string
	SSLCert     string // client certificate chain, PEM
	SSLCipher   string
	SSLSession  string
	SSLKeySize  int // 0: not sent
	// Attributes are extra name/value request attributes, such as
	// AJP_REMOTE_PORT and AJP_LOCAL_ADDR (Tomcat refuses unknown ones).
	Attributes []Header
}

// AppendPayload appends the message's payload (no packet header).
func (f *ForwardRequest) AppendPayload(b []byte) []byte {
	b = append(b, CodeForwardRequest)
	code := byte(storedMethod)
	for i, m := range methods {
		if m == f.Method {
			code = byte(i + 1)
			break
		}
	}
	b = append(b, code)
	b = appendString(b, f.Protocol)
	b = appendString(b, f.URI)
	b = appendString(b, f.RemoteAddr)
	b = appendString(b, f.RemoteHost)
	b = appendString(b, f.ServerName)
	b = binary.BigEndian.AppendUint16(b, uint16(f.ServerPort))
	b = appendBool(b, f.IsSSL)
	b = binary.BigEndian.AppendUint16(b, uint16(len(f.Headers)))
	for _, h := range f.Headers {
		if c := requestHeaderCode(h.Name); c != 0 {
			b = binary.BigEndian.AppendUint16(b, c)
		} else {
			b = appendString(b, h.Name)
		}
		b = appendString(b, h.Value)
	}
	for _, a := range []struct {
		code byte
		v    string
	}{
		{attrRemoteUser, f.RemoteUser}, {attrAuthType, f.AuthType}, {attrQueryString, f.QueryString},
		{attrRoute, f.Route}, {attrSSLCert, f.SSLCert}, {attrSSLCipher, f.SSLCipher}, {attrSSLSession, f.SSLSession},
		{attrSecret, f.Secret},
	} {
		if a.v != "" {
			b = append(b, a.code)
			b = appendString(b, a.v)
		}
	}
	if f.SSLKeySize > 0 {
		b = append(b, attrSSLKeySize)
		b = binary.BigEndian.AppendUint16(b, uint16(f.SSLKeySize))
	}
	if code == storedMethod {
		b = append(b, attrMethod)
		b = appendString(b, f.Method)
	}
	for _, a := range f.Attributes {
		b = append(b, attrReq)
		b = appendString(b, a.Name)
		b = appendString(b, a.Value)
	}
	return append(b, attrDone)
}

func requestHeaderCode(name string) uint16 {
	for i, h := range requestHeaders {
		if strings.EqualFold(h, name) {
			return 0xA001 + uint16(i)
		}
	}
	return 0
}

func responseHeaderCode(name string) uint16 {
	for i, h := range responseHeaders {
		if strings.EqualFold(h, name) {
			return 0xA001 + uint16(i)
		}
	}
	return 0
}

// ParseForwardRequest decodes a forward request payload (what a
// container receives). It returns an error wrapping ErrMalformed for any
// payload it cannot read in full.
func ParseForwardRequest(p []byte) (*ForwardRequest, error) {
	d := decoder{p: p}
	if d.byte() != CodeForwardRequest {
		return nil, d.fail("not a forward request")
	}
	f := &ForwardRequest{}
	code := d.byte()
	if code >= 1 && int(code) <= len(methods) {
		f.Method = methods[code-1]
	}
	f.Protocol, f.URI, f.RemoteAddr, f.RemoteHost, f.ServerName = d.string(), d.string(), d.string(), d.string(), d.string()
	f.ServerPort = int(d.int())
	f.IsSSL = d.byte() != 0
	f.Headers = d.headers(requestHeaders[:])
	for d.err == nil {
		switch a := d.byte(); a {
		case attrDone:
			if d.err != nil {
				return nil, d.err
			}
			if f.Method == "" {
				return nil, d.fail("no method")
			}
			return f, nil
		case attrContext, attrServletPath:
			d.string()
		case attrRemoteUser:
			f.RemoteUser = d.string()
		case attrAuthType:
			f.AuthType = d.string()
		case attrQueryString:
			f.QueryString = d.string()
		case attrRoute:
			f.Route = d.string()
		case attrSSLCert:
			f.SSLCert = d.string()
		case attrSSLCipher:
			f.SSLCipher = d.string()
		case attrSSLSession:
			f.SSLSession = d.string()
		case attrSSLKeySize:
			f.SSLKeySize = int(d.int())
		case attrSecret:
			f.Secret = d.string()
		case attrMethod:
			f.Method = d.string()
		case attrReq:
			f.Attributes = append(f.Attributes, Header{d.string(), d.string()})
		default:
			return nil, d.fail(fmt.Sprintf("unknown attribute %#x", a))
		}
	}
	return nil, d.err
}

// SendHeaders is the AJP13_SEND_HEADERS message: the response status and
// headers.
type SendHeaders struct {
	Status  int
	Message string
	Headers []Header
}

// AppendPayload appends the message's payload.
func (s *SendHeaders) AppendPayload(b []byte) []byte {
	b = append(b, CodeSendHeaders)
	b = binary.BigEndian.AppendUint16(b, uint16(s.Status))
	b = appendString(b, s.Message)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Headers)))
	for _, h := range s.Headers {
		if c := responseHeaderCode(h.Name); c != 0 {
			b = binary.BigEndian.AppendUint16(b, c)
		} else {
			b = appendString(b, h.Name)
		}
		b = appendString(b, h.Value)
	}
	return b
}

// ParseSendHeaders decodes a send-headers payload (what the web server
// receives).
func ParseSendHeaders(p []byte) (*SendHeaders, error) {
	d := decoder{p: p}
	if d.byte() != CodeSendHeaders {
		return nil, d.fail("not a send-headers message")
	}
	s := &SendHeaders{Status: int(d.int()), Message: d.string()}
	s.Headers = d.headers(responseHeaders[:])
	if d.err != nil {
		return nil, d.err
	}
	if s.Status < 100 || s.Status > 999 {
		return nil, d.fail(fmt.Sprintf("status %d", s.Status))
	}
	return s, nil
}

// BodyChunk returns the data of a send-body-chunk payload.
func BodyChunk(p []byte) ([]byte, error) {
	d := decoder{p: p}
	if d.byte() != CodeSendBodyChunk {
		return nil, d.fail("not a body chunk")
	}
	n := int(d.int())
	data := d.take(n)
	return data, d.err
}

// AppendBodyChunk appends a send-body-chunk payload carrying data (as
// Tomcat writes it: length, data, a NUL).
func AppendBodyChunk(b, data []byte) []byte {
	b = append(b, CodeSendBodyChunk)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	b = append(b, data...)
	return append(b, 0)
}

// AppendPacket appends a packet with magic and payload.
func AppendPacket(b []byte, magic uint16, payload []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, magic)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	return append(b, payload...)
}

// ReadPacket reads one packet with the given magic from r into buf and
// returns its payload (a slice of buf). A payload longer than buf is an
// error wrapping ErrMalformed.
func ReadPacket(r io.Reader, buf []byte, magic uint16) ([]byte, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	if m := binary.BigEndian.Uint16(h[:2]); m != magic {
		return nil, fmt.Errorf("%w: magic %#04x, want %#04x", ErrMalformed, m, magic)
	}
	n := int(binary.BigEndian.Uint16(h[2:]))
	if n > len(buf) {
		return nil, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrMalformed, n, len(buf))
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf[:n], nil
}

// appendString writes an AJP string: length, bytes, NUL. (The length
// 0xFFFF marks a null string; barkeep never sends one, it reads it as "".)
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	b = append(b, s...)
	return append(b, 0)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// headers reads a header count and the headers; names are strings or
// two-byte codes 0xA0nn naming codes[nn-1].
func (d *decoder) headers(codes []string) []Header {
	n := int(d.int())
	var out []Header
	for i := 0; i < n && d.err == nil; i++ {
		var name string
		if c := d.peekInt(); c&0xFF00 == 0xA000 {
			d.int()
			idx := int(c&0xFF) - 1
			if idx < 0 || idx >= len(codes) {
				d.fail(fmt.Sprintf("unknown header code %#x", c))
				return nil
			}
			name = codes[idx]
		} else {
			name = d.string()
		}
		out = append(out, Header{name, d.string()})
	}
	return out
}

// decoder reads AJP types from a payload, remembering the first error.
type decoder struct {
	p   []byte
	off int
	err error
}

func (d *decoder) fail(what string) error {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", ErrMalformed, what, d.off)
	}
	return d.err
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || n < 0 || d.off+n > len(d.p) {
		d.fail("truncated")
		return nil
	}
	b := d.p[d.off : d.off+n]
	d.off += n
	return b
}

func (d *decoder) byte() byte {
	b := d.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) int() uint16 {
	b := d.take(2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

func (d *decoder) peekInt() uint16 {
	if d.err != nil || d.off+2 > len(d.p) {
		return 0
	}
	return binary.BigEndian.Uint16(d.p[d.off:])
}

func (d *decoder) string() string {
	n := d.int()
	if n == 0xFFFF || d.err != nil {
		return ""
	}
	s := d.take(int(n) + 1)
	if s == nil {
		return ""
	}
	return string(s[:n])
}
