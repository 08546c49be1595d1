package config

import (
	"encoding"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File  string
	Line  int    // 0 when the problem has no single line
	Field string // e.g. "balancers[0].members[1].loadfactor"
	Msg   string
}

func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	if p.Field != "" {
		b.WriteString(": " + p.Field)
	}
	b.WriteString(": " + p.Msg)
	return b.String()
}

// Error lists every problem found in a configuration file, one per line in
// file order.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads and validates the configuration file at path. On any problem
// it returns an *Error listing all of them, and no Config.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: path, Msg: err.Error()}}}
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration held in memory; name is used
// in problem reports.
func Parse(name string, data []byte) (*Config, error) {
	c := &Config{file: name, pos: map[string]int{}}
	c.setDefaults()
	problems, ok := decodeInto(name, data, c, c.pos)
	if !ok {
		return nil, &Error{Problems: problems}
	}
	problems = append(problems, c.validate()...)
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

// decodeInto decodes the YAML in data into v (a pointer to a struct),
// recording field lines in pos. ok is false for a YAML syntax error, which
// stops the decoding.
func decodeInto(name string, data []byte, v any, pos map[string]int) (problems []Problem, ok bool) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return []Problem{syntaxProblem(name, err)}, false
	}
	d := &decoder{file: name, pos: pos}
	if len(root.Content) > 0 {
		d.value(root.Content[0], reflect.ValueOf(v).Elem(), "")
	}
	return d.problems, true
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// syntaxProblem turns a YAML syntax error into a Problem with its line.
func syntaxProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: file, Msg: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Msg = strings.TrimSpace(strings.TrimPrefix(yamlLine.ReplaceAllString(msg, ""), ":"))
	}
	return p
}

// decoder walks a yaml.Node tree into a Go value, recording the line of
// every field and collecting problems instead of stopping at the first.
type decoder struct {
	file     string
	pos      map[string]int
	problems []Problem
}

func (d *decoder) fail(line int, field, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

type defaulter interface{ setDefaults() }

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if _, ok := d.pos[path]; !ok {
		d.pos[path] = n.Line
	}
	if v.Kind() == reflect.Pointer {
		if n.Tag == "!!null" {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
			if df, ok := v.Interface().(defaulter); ok {
				df.setDefaults()
			}
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == durationType:
		d.duration(n, v, path)
		return
	case reflect.PointerTo(v.Type()).Implements(textUnmarshalerType):
		if d.scalar(n, path, "a word") {
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
				d.fail(n.Line, path, "%v", err)
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Map:
		d.dict(n, v, path)
	case reflect.String:
		if d.scalar(n, path, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Int:
		var i int
		if d.scalar(n, path, "an integer") {
			if n.Tag != "!!int" || n.Decode(&i) != nil {
				d.fail(n.Line, path, "want an integer, got %q", n.Value)
				return
			}
			v.SetInt(int64(i))
		}
	case reflect.Float64:
		var f float64
		if d.scalar(n, path, "a number") {
			if (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
				d.fail(n.Line, path, "want a number, got %q", n.Value)
				return
			}
			v.SetFloat(f)
		}
	case reflect.Bool:
		var b bool
		if d.scalar(n, path, "true or false") {
			if err := n.Decode(&b); err != nil {
				d.fail(n.Line, path, "want true or false, got %q", n.Value)
				return
			}
			v.SetBool(b)
		}
	default:
		d.fail(n.Line, path, "internal error: cannot decode into %s", v.Type())
	}
}

// scalar reports whether n is a scalar, recording a problem if not.
func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "want %s, got a %s", want, kindName(n.Kind))
		return false
	}
	return true
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "scalar"
}

// duration reads Go duration text ("60s", "1m30s", "250ms"). A bare
// number other than 0 is refused: its unit would be a guess.
func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if !d.scalar(n, path, "a duration") {
		return
	}
	if n.Value == "0" {
		v.SetInt(0)
		return
	}
	t, err := time.ParseDuration(n.Value)
	if err != nil {
		if _, numErr := strconv.ParseFloat(n.Value, 64); numErr == nil {
			d.fail(n.Line, path, "duration %q has no unit (write e.g. %ss or %sms)", n.Value, n.Value, n.Value)
		} else {
			d.fail(n.Line, path, "want a duration such as 60s or 1m30s, got %q", n.Value)
		}
		return
	}
	if t < 0 {
		d.fail(n.Line, path, "duration %s is negative", n.Value)
		return
	}
	v.SetInt(int64(t))
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Tag == "!!null" {
		return // "admin:" with nothing under it keeps the defaults
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "want a mapping of keys, got a %s", kindName(n.Kind))
		return
	}
	fields := map[string][]int{}
	var names []string
	collectFields(v.Type(), nil, fields, &names)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		field := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(k.Line, field, "key given twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			msg := "unknown key"
			if s := suggest(k.Value, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.fail(k.Line, field, "%s", msg)
			continue
		}
		d.pos[field] = k.Line
		d.value(val, v.FieldByIndex(idx), field)
	}
}

// collectFields maps the yaml key of every field of t to its index path,
// descending into embedded structs tagged `yaml:",inline"`.
func collectFields(t reflect.Type, prefix []int, fields map[string][]int, names *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		idx := append(slices.Clone(prefix), i)
		switch {
		case tag == ",inline" && f.Type.Kind() == reflect.Struct:
			collectFields(f.Type, idx, fields, names)
		case tag != "" && tag != "-":
			fields[tag] = idx
			*names = append(*names, tag)
		}
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	elem := v.Type().Elem()
	if n.Tag == "!!null" {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return
	}
	items := n.Content
	if n.Kind == yaml.ScalarNode && elem.Kind() == reflect.String {
		items = []*yaml.Node{n} // "listen: 127.0.0.1:8000" means a list of one
	} else if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, path, "want a list, got a %s", kindName(n.Kind))
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(items))
	for i, item := range items {
		e := reflect.New(elem)
		if df, ok := e.Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.value(item, e.Elem(), path+"["+strconv.Itoa(i)+"]")
		out = reflect.Append(out, e.Elem())
	}
	v.Set(out)
}

// dict decodes a mapping with string keys into a map (cluster.sync).
func (d *decoder) dict(n *yaml.Node, v reflect.Value, path string) {
	if n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode || v.Type().Key().Kind() != reflect.String {
		d.fail(n.Line, path, "want a mapping of keys, got a %s", kindName(n.Kind))
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		field := join(path, k.Value)
		if out.MapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key())).IsValid() {
			d.fail(k.Line, field, "key given twice")
			continue
		}
		d.pos[field] = k.Line
		e := reflect.New(v.Type().Elem())
		d.value(val, e.Elem(), field)
		out.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e.Elem())
	}
	v.Set(out)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns the known name closest to key when it is within two
// edits, else "".
func suggest(key string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if dist := editDistance(strings.ToLower(key), n); dist < bestDist {
			best, bestDist = n, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
