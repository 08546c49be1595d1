package convert

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Directive is one httpd directive as httpd would see it after reading:
// variables expanded, conditional sections (<IfDefine>, <IfModule>,
// <IfVersion>, <IfFile>, <IfDirective>, <IfSection>) resolved and Include
// files spliced in. A section such as <VirtualHost> or <Proxy> has its
// directives in Block.
type Directive struct {
	Name  string   // as written, e.g. "ProxyPass" or "<Proxy" for a section
	Args  []string // words after the name, quotes removed
	File  string
	Line  int // of the directive's first line
	Block []*Directive
	// Section is true for <Name ...> ... </Name>.
	Section bool
}

// Is reports whether d is the directive name (case-insensitive, as httpd).
func (d *Directive) Is(name string) bool { return strings.EqualFold(d.Name, name) }

func (d *Directive) pos() string { return d.File + ":" + strconv.Itoa(d.Line) }

// Error is a configuration httpd itself would refuse to start with (an
// unclosed section, a missing Include), with its place.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// builtinModules are compiled into Debian's (and most distributions')
// httpd, so <IfModule> sees them without a LoadModule line.
var builtinModules = []string{"core", "so", "http_core", "log_config", "logio", "version", "unixd", "watchdog", "mpm_event"}

// maxDepth bounds nested sections and includes, as httpd's
// AP_MAX_INCLUDE_DEPTH (128) does.
const maxDepth = 128

// reader reads one configuration the way httpd does, in file order.
type reader struct {
	root    string            // ServerRoot: base of relative Include paths
	defines map[string]string // -D names and Define (value "" for -D)
	env     func(string) (string, bool)
	modules map[string]bool // loaded module ids ("proxy_module") and sources ("mod_proxy.c")
	notes   *[]Finding
	open    []string // files being read, to refuse include loops
}

func newReader(opts Options, notes *[]Finding) *reader {
	r := &reader{root: opts.ServerRoot, defines: map[string]string{}, env: opts.LookupEnv, modules: map[string]bool{}, notes: notes}
	if r.env == nil {
		r.env = os.LookupEnv
	}
	for _, d := range opts.Defines {
		name, val, _ := strings.Cut(d, "=")
		r.defines[name] = val
	}
	for _, m := range builtinModules {
		r.loadModule(m+"_module", "mod_"+m+".so")
	}
	return r
}

func (r *reader) loadModule(id, file string) {
	r.modules[strings.ToLower(id)] = true
	base := strings.ToLower(filepath.Base(file))
	r.modules[strings.TrimSuffix(base, filepath.Ext(base))+".c"] = true
}

// line is one logical line: continuations joined, with its first line.
type line struct {
	text string
	num  int
}

// splitLines joins lines ending in a backslash with the next one and
// drops comments and blank lines (httpd: "#" only at the start of a line).
func splitLines(data string) []line {
	var out []line
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n") {
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\"))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(l)
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" || text[0] == '#' {
			continue
		}
		out = append(out, line{text, start})
	}
	if t := strings.TrimSpace(cur.String()); t != "" && t[0] != '#' {
		out = append(out, line{t, start})
	}
	return out
}

// readFile reads path and returns its directives, with conditionals
// resolved and includes spliced in.
func (r *reader) readFile(path string, depth int) ([]*Directive, error) {
	if depth > maxDepth {
		return nil, &Error{File: path, Msg: fmt.Sprintf("includes nest deeper than %d", maxDepth)}
	}
	abs, _ := filepath.Abs(path)
	if slices.Contains(r.open, abs) {
		return nil, &Error{File: path, Msg: "includes itself (loop through " + strings.Join(r.open, " -> ") + ")"}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	r.open = append(r.open, abs)
	defer func() { r.open = r.open[:len(r.open)-1] }()
	text := string(data)
	if !utf8.ValidString(text) {
		*r.notes = append(*r.notes, Finding{File: path, Line: firstInvalidLine(text), Directive: "(file)",
			Why: "not UTF-8; the invalid bytes are read as U+FFFD"})
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	lines := splitLines(text)
	p := &parser{r: r, file: path, lines: lines, depth: depth}
	ds, err := p.block("")
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// parser walks the logical lines of one file.
type parser struct {
	r     *reader
	file  string
	lines []line
	i     int
	depth int
}

// block reads directives until the closing tag of section (or the end of
// the file when section is "").
func (p *parser) block(section string) ([]*Directive, error) {
	var out []*Directive
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		p.i++
		text := p.r.expand(l.text, p.file, l.num)
		if strings.HasPrefix(text, "</") {
			name := strings.TrimSuffix(strings.TrimSpace(text[2:]), ">")
			if section == "" || !strings.EqualFold(name, section) {
				want := "no section is open"
				if section != "" {
					want = "expected </" + section + ">"
				}
				return nil, &Error{File: p.file, Line: l.num, Msg: fmt.Sprintf("</%s> without matching <%s> section (%s)", name, name, want)}
			}
			return out, nil
		}
		if strings.HasPrefix(text, "<") {
			ds, err := p.section(text, l.num)
			if err != nil {
				return nil, err
			}
			out = append(out, ds...)
			continue
		}
		ds, err := p.directive(text, l.num)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	if section != "" {
		return nil, &Error{File: p.file, Line: len(p.lines), Msg: fmt.Sprintf("<%s> section not closed before the end of the file", section)}
	}
	return out, nil
}

func (p *parser) section(text string, num int) ([]*Directive, error) {
	if !strings.HasSuffix(text, ">") {
		return nil, &Error{File: p.file, Line: num, Msg: fmt.Sprintf("%s: section opening lacks its closing '>'", strings.Fields(text)[0])}
	}
	inner := strings.TrimSuffix(text[1:], ">")
	var name, rest string
	if i := strings.IndexAny(inner, " \t"); i >= 0 {
		name, rest = inner[:i], inner[i+1:]
	} else {
		name, rest = inner, ""
	}
	if name == "" {
		return nil, &Error{File: p.file, Line: num, Msg: "a section with no name"}
	}
	if p.depth+1 > maxDepth {
		return nil, &Error{File: p.file, Line: num, Msg: fmt.Sprintf("sections nest deeper than %d", maxDepth)}
	}
	args := words(rest)
	cond, isCond := p.r.condition(name, args, p.file, num)
	p.depth++
	body, err := p.block(name)
	p.depth--
	if err != nil {
		return nil, err
	}
	if isCond {
		if cond {
			return body, nil
		}
		return nil, nil
	}
	return []*Directive{{Name: "<" + name, Args: args, File: p.file, Line: num, Block: body, Section: true}}, nil
}

// directive handles the directives the reader itself acts on (Include,
// Define, LoadModule, ServerRoot) and returns the others.
func (p *parser) directive(text string, num int) ([]*Directive, error) {
	name, rest := text, ""
	if i := strings.IndexAny(text, " \t"); i >= 0 {
		name, rest = text[:i], text[i+1:]
	}
	d := &Directive{Name: name, Args: words(rest), File: p.file, Line: num}
	r := p.r
	switch {
	case d.Is("Define") && len(d.Args) >= 1:
		r.defines[d.Args[0]] = strings.Join(d.Args[1:], " ")
	case d.Is("UnDefine") && len(d.Args) == 1:
		delete(r.defines, d.Args[0])
	case d.Is("LoadModule") && len(d.Args) == 2:
		r.loadModule(d.Args[0], d.Args[1])
	case d.Is("ServerRoot") && len(d.Args) == 1:
		r.root = d.Args[0]
	case (d.Is("Include") || d.Is("IncludeOptional")) && len(d.Args) == 1:
		return p.include(d)
	}
	return []*Directive{d}, nil
}

// include reads the files an Include or IncludeOptional names: a glob
// relative to ServerRoot, or a directory (every file in it), in
// alphabetical order as httpd does.
func (p *parser) include(d *Directive) ([]*Directive, error) {
	optional := d.Is("IncludeOptional")
	pattern := d.Args[0]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(p.r.root, pattern)
	}
	var files []string
	if strings.ContainsAny(pattern, "*?[") {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, &Error{File: d.File, Line: d.Line, Msg: fmt.Sprintf("%s %s: %v", d.Name, d.Args[0], err)}
		}
		for _, f := range m {
			if fi, err := os.Stat(f); err == nil && !fi.IsDir() {
				files = append(files, f)
			}
		}
		if len(files) == 0 && !optional {
			return nil, &Error{File: d.File, Line: d.Line, Msg: fmt.Sprintf("Include %s: no file matches the wildcard (httpd refuses to start; IncludeOptional allows it)", d.Args[0])}
		}
	} else {
		fi, err := os.Stat(pattern)
		switch {
		case err != nil && optional:
			return nil, nil
		case err != nil:
			return nil, &Error{File: d.File, Line: d.Line, Msg: fmt.Sprintf("Include %s: %v", d.Args[0], err)}
		case fi.IsDir():
			filepath.WalkDir(pattern, func(f string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					files = append(files, f)
				}
				return nil
			})
		default:
			files = []string{pattern}
		}
	}
	slices.Sort(files)
	var out []*Directive
	for _, f := range files {
		ds, err := p.r.readFile(f, p.depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// condition evaluates a conditional section; isCond is false for other
// sections.
func (r *reader) condition(name string, args []string, file string, num int) (ok, isCond bool) {
	arg := strings.Join(args, " ")
	neg := strings.HasPrefix(arg, "!")
	arg = strings.TrimPrefix(arg, "!")
	switch strings.ToLower(name) {
	case "ifdefine":
		_, defined := r.defines[arg]
		return defined != neg, true
	case "ifmodule":
		return r.modules[strings.ToLower(arg)] != neg, true
	case "iffile":
		path := strings.Trim(arg, `"`)
		if !filepath.IsAbs(path) {
			path = filepath.Join(r.root, path)
		}
		_, err := os.Stat(path)
		return (err == nil) != neg, true
	case "ifversion":
		return ifVersion(args), true
	case "ifdirective", "ifsection":
		*r.notes = append(*r.notes, Finding{File: file, Line: num, Directive: "<" + name,
			Why: "assumed true (barkeep reads every directive httpd 2.4 knows)"})
		return !neg, true
	}
	return false, false
}

// httpdVersion is the release <IfVersion> compares against: the httpd 2.4
// Debian ships.
var httpdVersion = [3]int{2, 4, 62}

// ifVersion evaluates <IfVersion [[!]op] version> for httpd 2.4.62; a
// form it cannot read counts as true.
func ifVersion(args []string) bool {
	op, v := ">=", ""
	switch len(args) {
	case 1:
		op, v = "=", args[0]
	case 2:
		op, v = args[0], args[1]
	default:
		return true
	}
	neg := strings.HasPrefix(op, "!")
	op = strings.TrimPrefix(op, "!")
	if op == "~" || strings.HasPrefix(v, "/") && strings.HasSuffix(v, "/") && len(v) > 1 {
		re, err := regexp.Compile(strings.Trim(v, "/"))
		if err != nil {
			return true
		}
		return re.MatchString(fmt.Sprintf("%d.%d.%d", httpdVersion[0], httpdVersion[1], httpdVersion[2])) != neg
	}
	var want [3]int
	for i, s := range strings.SplitN(v, ".", 3) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return true
		}
		want[i] = n
	}
	c := 0
	for i := range 3 {
		if c = httpdVersion[i] - want[i]; c != 0 {
			break
		}
	}
	var res bool
	switch op {
	case "=", "==":
		res = c == 0
	case ">":
		res = c > 0
	case ">=":
		res = c >= 0
	case "<":
		res = c < 0
	case "<=":
		res = c <= 0
	default:
		return true
	}
	return res != neg
}

// expand replaces ${NAME} with a Define'd value or the environment, as
// httpd does when it reads a line; an unknown name stays as written and
// is noted.
func (r *reader) expand(s, file string, num int) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		name := s[i+2 : i+j]
		b.WriteString(s[:i])
		if v, ok := r.defines[name]; ok {
			b.WriteString(v)
		} else if v, ok := r.env(name); ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[i : i+j+1])
			*r.notes = append(*r.notes, Finding{File: file, Line: num, Directive: "${" + name + "}",
				Why: "not defined (no Define, -D or environment variable); left as written"})
		}
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

// words splits directive arguments as httpd's ap_getword_conf does:
// whitespace separates words, and a word may be quoted with " or ', inside
// which a backslash escapes the quote character.
func words(s string) []string {
	var out []string
	s = strings.TrimSpace(s)
	for s != "" {
		var w string
		if q := s[0]; q == '"' || q == '\'' {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != q; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == q || s[i+1] == '\\') {
					i++
				}
				b.WriteByte(s[i])
			}
			w, s = b.String(), s[min(i+1, len(s)):]
		} else {
			i := strings.IndexAny(s, " \t")
			if i < 0 {
				i = len(s)
			}
			w, s = s[:i], s[i:]
		}
		out = append(out, w)
		s = strings.TrimLeft(s, " \t")
	}
	return out
}

// firstInvalidLine is the line of the first byte that is not UTF-8.
func firstInvalidLine(s string) int {
	for i, l := range strings.Split(s, "\n") {
		if !utf8.ValidString(l) {
			return i + 1
		}
	}
	return 1
}
