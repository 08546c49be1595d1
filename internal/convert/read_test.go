package convert

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// writeFiles writes name -> content under a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// flat lists the directives as "Name arg arg @file:line", sections with
// their blocks indented.
func flat(ds []*Directive, dir, indent string) []string {
	var out []string
	for _, d := range ds {
		file, _ := filepath.Rel(dir, d.File)
		out = append(out, indent+strings.Join(append([]string{d.Name}, d.Args...), " ")+" @"+file+":"+itoa(d.Line))
		out = append(out, flat(d.Block, dir, indent+"  ")...)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func read(t *testing.T, files map[string]string, opts Options) ([]string, []Finding, error) {
	t.Helper()
	dir := writeFiles(t, files)
	if opts.ServerRoot == "" {
		opts.ServerRoot = dir
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = func(k string) (string, bool) {
			if k == "APACHE_LOG_DIR" {
				return "/var/log/apache2", true
			}
			return "", false
		}
	}
	var notes []Finding
	r := newReader(opts, &notes)
	ds, err := r.readFile(filepath.Join(dir, "httpd.conf"), 0)
	return flat(ds, dir, ""), notes, err
}

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		defines []string
		want    []string
	}{{
		name:  "comments, blank lines and continuations",
		files: map[string]string{"httpd.conf": "# a comment\n\n  Listen 80\nBalancerMember http://a:1 \\\n   route=a \\\n   loadfactor=2\n   # indented comment\nTimeout 5\n"},
		want:  []string{"Listen 80 @httpd.conf:3", "BalancerMember http://a:1 route=a loadfactor=2 @httpd.conf:4", "Timeout 5 @httpd.conf:8"},
	}, {
		name:  "quotes",
		files: map[string]string{"httpd.conf": `ProxyPass "/my app" 'balancer://b/x y' "a \"q\" b"` + "\n"},
		want:  []string{`ProxyPass /my app balancer://b/x y a "q" b @httpd.conf:1`},
	}, {
		name:  "variables from Define and the environment",
		files: map[string]string{"httpd.conf": "Define port 8080\nListen ${port}\nCustomLog ${APACHE_LOG_DIR}/access.log combined\n"},
		want:  []string{"Define port 8080 @httpd.conf:1", "Listen 8080 @httpd.conf:2", "CustomLog /var/log/apache2/access.log combined @httpd.conf:3"},
	}, {
		name: "IfDefine with -D, Define and negation",
		files: map[string]string{"httpd.conf": "<IfDefine PROD>\nListen 1\n</IfDefine>\n<IfDefine !PROD>\nListen 2\n</IfDefine>\n" +
			"Define LOCAL\n<IfDefine LOCAL>\nListen 3\n</IfDefine>\nUnDefine LOCAL\n<IfDefine LOCAL>\nListen 4\n</IfDefine>\n"},
		defines: []string{"PROD"},
		want:    []string{"Listen 1 @httpd.conf:2", "Define LOCAL @httpd.conf:7", "Listen 3 @httpd.conf:9", "UnDefine LOCAL @httpd.conf:11"},
	}, {
		name: "IfModule sees loaded, built-in and only earlier modules",
		files: map[string]string{"httpd.conf": "<IfModule proxy_module>\nListen 1\n</IfModule>\n" +
			"LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so\n" +
			"<IfModule mod_proxy.c>\nListen 2\n</IfModule>\n<IfModule proxy_module>\nListen 3\n</IfModule>\n" +
			"<IfModule !mod_rewrite.c>\nListen 4\n</IfModule>\n<IfModule log_config_module>\nListen 5\n</IfModule>\n"},
		want: []string{"LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so @httpd.conf:4", "Listen 2 @httpd.conf:6", "Listen 3 @httpd.conf:9", "Listen 4 @httpd.conf:12", "Listen 5 @httpd.conf:15"},
	}, {
		name:  "IfVersion",
		files: map[string]string{"httpd.conf": "<IfVersion >= 2.4>\nListen 1\n</IfVersion>\n<IfVersion < 2.4>\nListen 2\n</IfVersion>\n<IfVersion !~ ^2\\.2>\nListen 3\n</IfVersion>\n"},
		want:  []string{"Listen 1 @httpd.conf:2", "Listen 3 @httpd.conf:8"},
	}, {
		name: "Include globs relative to ServerRoot, in order, and directories",
		files: map[string]string{
			"httpd.conf":     "Include conf.d/*.conf\nIncludeOptional sites/*.conf\nIncludeOptional missing.conf\nInclude extra\n",
			"conf.d/b.conf":  "Listen 2\n",
			"conf.d/a.conf":  "Listen 1\n",
			"conf.d/c.txt":   "Listen 9\n",
			"extra/one.conf": "<Proxy balancer://x>\nBalancerMember http://a:1\n</Proxy>\n",
		},
		want: []string{"Listen 1 @conf.d/a.conf:1", "Listen 2 @conf.d/b.conf:1", "<Proxy balancer://x @extra/one.conf:1", "  BalancerMember http://a:1 @extra/one.conf:2"},
	}, {
		name:  "sections nest and keep their lines",
		files: map[string]string{"httpd.conf": "<VirtualHost *:80>\n  <Location /app>\n    ProxyPass balancer://b/app\n  </Location>\n</VirtualHost>\n"},
		want:  []string{"<VirtualHost *:80 @httpd.conf:1", "  <Location /app @httpd.conf:2", "    ProxyPass balancer://b/app @httpd.conf:3"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := read(t, tt.files, Options{Defines: tt.defines})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestReaderNotesUndefinedVariables(t *testing.T) {
	got, notes, err := read(t, map[string]string{"httpd.conf": "Listen 80\nErrorLog ${NOPE}/error.log\n"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got[1] != "ErrorLog ${NOPE}/error.log @httpd.conf:2" {
		t.Errorf("got %q", got)
	}
	if len(notes) != 1 || notes[0].Line != 2 || notes[0].Directive != "${NOPE}" {
		t.Errorf("notes %v, want one for ${NOPE} at line 2", notes)
	}
}

// TestReaderRefusesWhatHttpdRefuses: each error names the file and line.
func TestReaderRefusesWhatHttpdRefuses(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unclosed section", map[string]string{"httpd.conf": "Listen 80\n<Proxy balancer://b>\nBalancerMember http://a:1\n"}, "httpd.conf:3: <Proxy> section not closed"},
		{"stray close", map[string]string{"httpd.conf": "Listen 80\n</Location>\n"}, "httpd.conf:2: </Location> without matching <Location> section"},
		{"crossed sections", map[string]string{"httpd.conf": "<VirtualHost *:80>\n<Location />\n</VirtualHost>\n</Location>\n"}, "httpd.conf:3: </VirtualHost> without matching"},
		{"missing Include", map[string]string{"httpd.conf": "Listen 80\nInclude nothere.conf\n"}, "httpd.conf:2: Include nothere.conf:"},
		{"empty Include wildcard", map[string]string{"httpd.conf": "Include conf.d/*.conf\n"}, "httpd.conf:1: Include conf.d/*.conf: no file matches"},
		{"include loop", map[string]string{"httpd.conf": "Include a.conf\n", "a.conf": "Include httpd.conf\n"}, "includes itself"},
		{"section without >", map[string]string{"httpd.conf": "<Location /x\n</Location>\n"}, "httpd.conf:1: <Location: section opening lacks its closing '>'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := read(t, tt.files, Options{})
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want an *Error containing %q", err, tt.want)
			}
		})
	}
}

func TestWords(t *testing.T) {
	for in, want := range map[string][]string{
		`a b  c`:                  {"a", "b", "c"},
		`"a b" c`:                 {"a b", "c"},
		`'it''s'`:                 {"it", "s"},
		`"unterminated`:           {"unterminated"},
		`"esc \" q" \x`:           {`esc " q`, `\x`},
		"\tstickysession=A|B  x ": {"stickysession=A|B", "x"},
		"":                        nil,
	} {
		if got := words(in); !slices.Equal(got, want) {
			t.Errorf("words(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReaderNotesBytesThatAreNotUTF8(t *testing.T) {
	got, notes, err := read(t, map[string]string{"httpd.conf": "Listen 80\nServerAdmin caf\xe9@example.com\n"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got[1] != "ServerAdmin caf\uFFFD@example.com @httpd.conf:2" || len(notes) != 1 || notes[0].Line != 2 {
		t.Errorf("got %q, notes %v", got, notes)
	}
}
