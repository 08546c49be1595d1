package mcmp

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// DefaultAdvertiseGroup is mod_advertise's multicast group and port
// (AdvertiseGroup).
const DefaultAdvertiseGroup = "224.0.1.105:23364"

// MaxAdvertiseSize is the receive buffer of the Java advertise listener:
// a datagram longer than this is not read whole by a worker.
const MaxAdvertiseSize = 512

// ErrAdvertise wraps every reason ParseAdvertisement refuses a datagram.
var ErrAdvertise = errors.New("mcmp: not an advertise datagram")

// Advertisement is one mod_advertise UDP datagram (docs/mcmp.md §8): a balancer
// announcing its manager listener to the workers on a multicast group.
//
//	HTTP/1.0 200 OK
//	Date: Sat, 21 Nov 2026 11:58:09 GMT
//	Sequence: 1
//	Digest: 082063a53c5d634084beb0ccbd0ca286
//	Server: 723fa606-7b7b-458b-a32c-7494b0a62186
//	X-Manager-Address: 127.0.0.1:6666
//	X-Manager-Url: /723fa606-7b7b-458b-a32c-7494b0a62186
//	X-Manager-Protocol: http
//	X-Manager-Host: 127.0.0.1
//
// Status is 200 while the balancer runs; on shutdown it sends 403 and then
// 410 without the X-Manager headers.
type Advertisement struct {
	Status   int    // 200, or 403 / 410 on shutdown
	Date     string // RFC 1123 date, second resolution, as sent
	Sequence int64  // 1 for the first datagram of a balancer start, +1 per datagram
	Digest   string // 32 lower-case hex digits; see AdvertiseDigest
	Server   string // identifies one balancer start (a random UUID)

	ManagerAddress  string // X-Manager-Address: host:port of the manager listener; IPv6 in []
	ManagerURL      string // X-Manager-Url
	ManagerProtocol string // X-Manager-Protocol: http or https
	ManagerHost     string // X-Manager-Host
}

var statusText = map[int]string{200: "OK", 403: "Forbidden", 410: "Gone"}

// AdvertiseDigest is mod_advertise's digest: the lower-case hex MD5 of
// salt ‖ date ‖ sequence ‖ server, where salt is the 16-byte MD5 of key,
// or 16 zero bytes when key is "".
func AdvertiseDigest(key, date string, sequence int64, server string) string {
	var salt [16]byte
	if key != "" {
		salt = md5.Sum([]byte(key))
	}
	h := md5.New()
	h.Write(salt[:])
	h.Write([]byte(date))
	h.Write([]byte(strconv.FormatInt(sequence, 10)))
	h.Write([]byte(server))
	return hex.EncodeToString(h.Sum(nil))
}

// Sign sets a.Digest for key (see AdvertiseDigest).
func (a *Advertisement) Sign(key string) {
	a.Digest = AdvertiseDigest(key, a.Date, a.Sequence, a.Server)
}

// Verify reports whether a.Digest is the digest of a's Date, Sequence and
// Server under key ("" for a balancer without AdvertiseSecurityKey). The
// comparison takes constant time.
func (a *Advertisement) Verify(key string) bool {
	want := AdvertiseDigest(key, a.Date, a.Sequence, a.Server)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(a.Digest))) == 1
}

// Marshal returns the datagram: the status line and headers with CRLF
// line ends, closed by an empty line. The X-Manager headers are sent only
// with status 200.
func (a *Advertisement) Marshal() []byte {
	var b bytes.Buffer
	text := statusText[a.Status]
	b.WriteString("HTTP/1.0 " + strconv.Itoa(a.Status) + " " + text + "\r\n")
	b.WriteString("Date: " + a.Date + "\r\n")
	b.WriteString("Sequence: " + strconv.FormatInt(a.Sequence, 10) + "\r\n")
	b.WriteString("Digest: " + a.Digest + "\r\n")
	b.WriteString("Server: " + a.Server + "\r\n")
	if a.Status == 200 {
		b.WriteString("X-Manager-Address: " + a.ManagerAddress + "\r\n")
		b.WriteString("X-Manager-Url: " + a.ManagerURL + "\r\n")
		b.WriteString("X-Manager-Protocol: " + a.ManagerProtocol + "\r\n")
		b.WriteString("X-Manager-Host: " + a.ManagerHost + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// ParseAdvertisement reads a datagram as the Java listener does: it must
// start with "HTTP/1.", the status line has three parts, headers are
// "Name: value" (one space) with case-sensitive names; LF alone ends a
// line too. Date, Sequence, Digest and Server are required; a 200 also
// needs X-Manager-Address. Unknown headers are ignored. The digest is not
// checked here (see Verify). Errors wrap ErrAdvertise.
func ParseAdvertisement(b []byte) (*Advertisement, error) {
	if !bytes.HasPrefix(b, []byte("HTTP/1.")) {
		return nil, advErr("does not start with HTTP/1.")
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	parts := strings.SplitN(lines[0], " ", 3)
	if len(parts) != 3 {
		return nil, advErr("bad status line")
	}
	a := &Advertisement{}
	var err error
	if a.Status, err = strconv.Atoi(parts[1]); err != nil {
		return nil, advErr("bad status code")
	}
	seen := map[string]bool{}
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		name, value, ok := strings.Cut(l, ": ")
		if !ok {
			return nil, advErr("header line without \": \"")
		}
		seen[name] = true
		switch name {
		case "Date":
			a.Date = value
		case "Sequence":
			if a.Sequence, err = strconv.ParseInt(value, 10, 64); err != nil {
				return nil, advErr("bad Sequence")
			}
		case "Digest":
			a.Digest = value
		case "Server":
			a.Server = value
		case "X-Manager-Address":
			a.ManagerAddress = value
		case "X-Manager-Url":
			a.ManagerURL = value
		case "X-Manager-Protocol":
			a.ManagerProtocol = value
		case "X-Manager-Host":
			a.ManagerHost = value
		}
	}
	for _, h := range []string{"Date", "Sequence", "Digest", "Server"} {
		if !seen[h] {
			return nil, advErr("no " + h + " header")
		}
	}
	if a.Status == 200 && a.ManagerAddress == "" {
		return nil, advErr("no X-Manager-Address header")
	}
	return a, nil
}

func advErr(why string) error { return errors.Join(ErrAdvertise, errors.New(why)) }
