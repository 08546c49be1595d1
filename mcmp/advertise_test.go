package mcmp

import (
	"errors"
	"strings"
	"testing"
)

// capture is the datagram of MCMP.md §8, sent by mod_advertise without an
// AdvertiseSecurityKey.
const capture = "HTTP/1.0 200 OK\r\n" +
	"Date: Sat, 21 Nov 2026 11:58:09 GMT\r\n" +
	"Sequence: 1\r\n" +
	"Digest: 082063a53c5d634084beb0ccbd0ca286\r\n" +
	"Server: 723fa606-7b7b-458b-a32c-7494b0a62186\r\n" +
	"X-Manager-Address: 127.0.0.1:6666\r\n" +
	"X-Manager-Url: /723fa606-7b7b-458b-a32c-7494b0a62186\r\n" +
	"X-Manager-Protocol: http\r\n" +
	"X-Manager-Host: 127.0.0.1\r\n" +
	"\r\n"

func TestAdvertisementCaptureRoundTrip(t *testing.T) {
	a, err := ParseAdvertisement([]byte(capture))
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != 200 || a.Sequence != 1 || a.ManagerAddress != "127.0.0.1:6666" || a.ManagerProtocol != "http" {
		t.Fatalf("parsed %+v", a)
	}
	if !a.Verify("") {
		t.Error("the reference's digest without a key does not verify")
	}
	if a.Verify("s3cret") {
		t.Error("a digest made without a key verifies under key s3cret")
	}
	if got := string(a.Marshal()); got != capture {
		t.Errorf("Marshal:\n%q\nwant\n%q", got, capture)
	}
	a.Sign("s3cret")
	if a.Digest != "173b133d1ecd3966e9b90339a3ddf60b" || !a.Verify("s3cret") || a.Verify("") {
		t.Errorf("signed with s3cret: digest %s", a.Digest)
	}
}

func TestAdvertisementShutdownHasNoManagerHeaders(t *testing.T) {
	a := &Advertisement{Status: 410, Date: "Sat, 21 Nov 2026 11:58:19 GMT", Sequence: 3, Server: "x"}
	a.Sign("")
	b := string(a.Marshal())
	if !strings.HasPrefix(b, "HTTP/1.0 410 Gone\r\n") || strings.Contains(b, "X-Manager") {
		t.Fatalf("shutdown datagram:\n%s", b)
	}
	back, err := ParseAdvertisement([]byte(b))
	if err != nil || back.Status != 410 || !back.Verify("") {
		t.Fatalf("parse back: %+v, %v", back, err)
	}
}

func TestParseAdvertisementRefusals(t *testing.T) {
	for name, in := range map[string]string{
		"not http":          "GET / HTTP/1.0\r\n\r\n",
		"short status line": "HTTP/1.0 200\r\n\r\n",
		"bad code":          "HTTP/1.0 abc OK\r\n\r\n",
		"no digest":         strings.Replace(capture, "Digest: 082063a53c5d634084beb0ccbd0ca286\r\n", "", 1),
		"no address":        strings.Replace(capture, "X-Manager-Address: 127.0.0.1:6666\r\n", "", 1),
		"bad sequence":      strings.Replace(capture, "Sequence: 1", "Sequence: one", 1),
		"header no space":   strings.Replace(capture, "Server: ", "Server:", 1),
		"empty":             "",
	} {
		if _, err := ParseAdvertisement([]byte(in)); !errors.Is(err, ErrAdvertise) {
			t.Errorf("%s: err %v, want ErrAdvertise", name, err)
		}
	}
}

func FuzzParseAdvertisement(f *testing.F) {
	f.Add([]byte(capture))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAdvertisement(b)
		if err != nil {
			return
		}
		a.Verify("k")
		if _, err := ParseAdvertisement(a.Marshal()); err != nil && a.Status == 200 && !strings.ContainsAny(a.Date+a.Server+a.ManagerAddress, "\r\n") {
			t.Fatalf("marshal of a parsed datagram does not parse: %v", err)
		}
	})
}
