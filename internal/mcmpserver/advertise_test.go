package mcmpserver

import (
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/mcmp"
)

func TestAdvertiseDatagrams(t *testing.T) {
	a, err := NewAdvertiser(AdvertiseOptions{ManagerAddress: "127.0.0.1:6666", SecurityKey: "s3cret", Server: "723fa606-7b7b-458b-a32c-7494b0a62186"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 21, 11, 58, 9, 0, time.UTC)
	for seq, status := range []int{200, 200, 403, 410} {
		ad, err := mcmp.ParseAdvertisement(a.datagram(status, at))
		if err != nil {
			t.Fatal(err)
		}
		if ad.Status != status || ad.Sequence != int64(seq+1) || ad.Date != "Sat, 21 Nov 2026 11:58:09 GMT" {
			t.Errorf("datagram %d: %+v", seq+1, ad)
		}
		if !ad.Verify("s3cret") || ad.Verify("") {
			t.Errorf("datagram %d: digest %s is not the one of key s3cret", seq+1, ad.Digest)
		}
		if status == 200 && (ad.ManagerAddress != "127.0.0.1:6666" || ad.ManagerProtocol != "http" ||
			ad.ManagerURL != "/723fa606-7b7b-458b-a32c-7494b0a62186" || ad.ManagerHost != "127.0.0.1") {
			t.Errorf("datagram %d: manager headers %+v", seq+1, ad)
		}
	}
	// The reference's capture (MCMP.md §8): same date, sequence 1, no key.
	b, _ := NewAdvertiser(AdvertiseOptions{ManagerAddress: "127.0.0.1:6666", Server: "723fa606-7b7b-458b-a32c-7494b0a62186"})
	if d := string(b.datagram(200, at)); !strings.Contains(d, "Digest: 082063a53c5d634084beb0ccbd0ca286\r\n") {
		t.Errorf("datagram without key:\n%s", d)
	}
	if len(a.datagram(200, at)) > mcmp.MaxAdvertiseSize {
		t.Error("datagram longer than the Java worker's 512-byte buffer")
	}
}

func TestNewAdvertiserRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]AdvertiseOptions{
		"no address":      {},
		"no port":         {ManagerAddress: "127.0.0.1"},
		"unicast group":   {ManagerAddress: "127.0.0.1:6666", Group: "10.0.0.1:23364"},
		"ipv6 group":      {ManagerAddress: "127.0.0.1:6666", Group: "[ff02::1]:23364"},
		"bad protocol":    {ManagerAddress: "127.0.0.1:6666", Protocol: "ajp"},
		"no interface":    {ManagerAddress: "127.0.0.1:6666", Interface: "no-such-if0"},
		"negative period": {ManagerAddress: "127.0.0.1:6666", Interval: -time.Second},
	} {
		if _, err := NewAdvertiser(o); err == nil {
			t.Errorf("%s: accepted %+v", name, o)
		}
	}
	a, err := NewAdvertiser(AdvertiseOptions{ManagerAddress: "0.0.0.0:6666", Interface: "lo"})
	if err != nil {
		t.Fatal(err)
	}
	if a.ManagerAddress() != "127.0.0.1:6666" {
		t.Errorf("unspecified host on lo announced as %s, want 127.0.0.1:6666", a.ManagerAddress())
	}
}
