package proxy

import (
	"bytes"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, raw  string
		opts       PathOptions
		fwd, match string
		status     int
	}{
		{name: "root", raw: "/", fwd: "/", match: "/"},
		{name: "plain", raw: "/app/page", fwd: "/app/page", match: "/app/page"},
		{name: "trailing slash kept", raw: "/app/", fwd: "/app/", match: "/app/"},
		{name: "dot", raw: "/app/./admin/secret", fwd: "/app/admin/secret", match: "/app/admin/secret"},
		{name: "dot dot", raw: "/app/x/../admin/secret", fwd: "/app/admin/secret", match: "/app/admin/secret"},
		{name: "double slash merged", raw: "/app//admin/secret", fwd: "/app/admin/secret", match: "/app/admin/secret"},
		{name: "double slash kept", raw: "/app//admin", opts: PathOptions{KeepSlashes: true}, fwd: "/app//admin", match: "/app//admin"},
		{name: "leading slashes", raw: "///app", fwd: "/app", match: "/app"},
		{name: "encoded dots", raw: "/app/%2e%2e/app/admin/secret", fwd: "/app/admin/secret", match: "/app/admin/secret"},
		{name: "mixed encoded dots", raw: "/a/b/.%2E/c", fwd: "/a/c", match: "/a/c"},
		{name: "tomcat dot dot with params", raw: "/app/x/..;/admin/secret", fwd: "/app/admin/secret", match: "/app/admin/secret"},
		{name: "dot with params", raw: "/app/.;x=1/admin", fwd: "/app/admin", match: "/app/admin"},
		{name: "final dot dot", raw: "/a/b/..", fwd: "/a/", match: "/a/"},
		{name: "final dot", raw: "/a/b/.", fwd: "/a/b/", match: "/a/b/"},
		{name: "to the root", raw: "/a/..", fwd: "/", match: "/"},
		{name: "above the root", raw: "/..", status: 400},
		{name: "climbs above the root", raw: "/app/../../secret", status: 400},
		{name: "encoded climb", raw: "/%2e%2e/secret", status: 400},
		{name: "unreserved decoded", raw: "/%61pp/%7Euser", fwd: "/app/~user", match: "/app/~user"},
		{name: "reserved kept upper case", raw: "/a%3bb/c%3f%20d", fwd: "/a%3Bb/c%3F%20d", match: "/a%3Bb/c%3F%20d"},
		{name: "jsessionid kept for forwarding", raw: "/app/page;jsessionid=8E1F.elm", fwd: "/app/page;jsessionid=8E1F.elm", match: "/app/page"},
		{name: "params on inner segment", raw: "/app;v=1/page", fwd: "/app;v=1/page", match: "/app/page"},
		{name: "encoded slash refused", raw: "/app%2F..%2Fadmin", status: 404},
		{name: "encoded slash allowed", raw: "/a%2fb", opts: PathOptions{AllowEncodedSlashes: true}, fwd: "/a%2Fb", match: "/a%2Fb"},
		{name: "encoded slash is no separator", raw: "/a%2F..%2Fb", opts: PathOptions{AllowEncodedSlashes: true}, fwd: "/a%2F..%2Fb", match: "/a%2F..%2Fb"},
		{name: "bad escape", raw: "/a%zz", status: 400},
		{name: "short escape", raw: "/a%2", status: 400},
		{name: "escape at end", raw: "/a%", status: 400},
		{name: "escaped NUL", raw: "/a%00", status: 400},
		{name: "backslash", raw: `/app\..\admin`, status: 400},
		{name: "space", raw: "/a b", status: 400},
		{name: "non-ASCII", raw: "/caf\xc3\xa9", status: 400},
		{name: "not absolute", raw: "app", status: 400},
		{name: "empty", raw: "", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p normalPath
			status := p.normalize([]byte(tt.raw), tt.opts)
			if status != tt.status {
				t.Fatalf("normalize(%q) status = %d, want %d (fwd %q)", tt.raw, status, tt.status, p.fwd)
			}
			if status != 0 {
				return
			}
			if string(p.fwd) != tt.fwd || string(p.match) != tt.match {
				t.Errorf("normalize(%q) = %q, %q; want %q, %q", tt.raw, p.fwd, p.match, tt.fwd, tt.match)
			}
		})
	}
}

func TestNormalizeDoesNotAllocate(t *testing.T) {
	var p normalPath
	raw := []byte("/app/x/../admin/%2e/secret;jsessionid=1.a//x")
	p.normalize(raw, PathOptions{})
	if allocs := testing.AllocsPerRun(100, func() { p.normalize(raw, PathOptions{}) }); allocs != 0 {
		t.Errorf("normalize allocates %v times", allocs)
	}
}

// FuzzNormalize checks the normaliser's promises on any input: it never
// panics; an accepted path starts with "/", has no dot segment (with or
// without path parameters) and no "//" unless asked; normalising it again
// gives the same result; and match is fwd without path parameters.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/a/%2e%2e/b", "/a//b/", "/a/..;x/b", "/%2F", "/a;b/c;d", "/.%2e/x"} {
		f.Add(s, false, false)
	}
	f.Fuzz(func(t *testing.T, raw string, keep, allow bool) {
		opts := PathOptions{KeepSlashes: keep, AllowEncodedSlashes: allow}
		var p normalPath
		if p.normalize([]byte(raw), opts) != 0 {
			return
		}
		fwd, match := string(p.fwd), string(p.match)
		if fwd[0] != '/' || match[0] != '/' {
			t.Fatalf("normalize(%q) = %q, %q: not absolute", raw, fwd, match)
		}
		for _, path := range []string{fwd, match} {
			for seg := range strings.SplitSeq(path[1:], "/") {
				name, _, _ := strings.Cut(seg, ";")
				if name == "." || name == ".." {
					t.Fatalf("normalize(%q) = %q: dot segment %q", raw, path, seg)
				}
			}
			if !keep && strings.Contains(path, "//") {
				t.Fatalf("normalize(%q) = %q: repeated slash", raw, path)
			}
		}
		if stripParams(fwd) != match {
			t.Fatalf("normalize(%q): match %q is not fwd %q without parameters", raw, match, fwd)
		}
		var q normalPath
		if status := q.normalize(p.fwd, opts); status != 0 || !bytes.Equal(q.fwd, p.fwd) || !bytes.Equal(q.match, p.match) {
			t.Fatalf("normalize(%q) = %q; again: %d %q %q", raw, fwd, status, q.fwd, q.match)
		}
	})
}

func stripParams(p string) string {
	var b strings.Builder
	for i, seg := range strings.Split(p, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		name, _, _ := strings.Cut(seg, ";")
		b.WriteString(name)
	}
	return b.String()
}
