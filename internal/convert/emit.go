package convert

import (
	"bytes"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// obj is one YAML mapping being built: keys in the order they were first
// set, a later set replacing the value (as a later httpd directive wins).
type obj struct {
	from string // "file:line" the block came from, written as its comment
	keys []string
	vals map[string]*yaml.Node
}

func newObj(from string) *obj { return &obj{from: from, vals: map[string]*yaml.Node{}} }

func (o *obj) set(k string, v *yaml.Node) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *obj) del(k string) {
	delete(o.vals, k)
	o.keys = slices.DeleteFunc(o.keys, func(x string) bool { return x == k })
}

func (o *obj) has(k string) bool { _, ok := o.vals[k]; return ok }

func (o *obj) empty() bool { return o == nil || len(o.keys) == 0 }

// node returns the mapping; extra pairs come after o's own keys.
func (o *obj) node(extra ...*yaml.Node) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range o.keys {
		m.Content = append(m.Content, str(k), o.vals[k])
	}
	m.Content = append(m.Content, extra...)
	return m
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func num(n int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func strs(ss ...string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range ss {
		n.Content = append(n.Content, str(s))
	}
	return n
}

// withComment puts "from FILE:LINE" above a key.
func withComment(k *yaml.Node, from string) *yaml.Node {
	if from != "" {
		k.HeadComment = "from " + from
	}
	return k
}

// emit writes the configuration as YAML, each block under a comment naming
// the line it came from.
func (c *converter) emit(file string) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, v *yaml.Node, from string) {
		root.Content = append(root.Content, withComment(str(key), from), v)
	}
	if ls := c.clientListens(); len(ls) > 0 {
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, l := range ls {
			item := str(l.addr)
			item.LineComment = "from " + l.from
			n.Content = append(n.Content, item)
		}
		add("listen", n, "")
	}
	if t := c.tlsNode(); t != nil {
		add("tls", t, c.tls.from)
	}
	if !c.server.empty() {
		add("server", c.server.node(), c.server.from)
	}
	if !c.admin.empty() {
		add("admin", c.admin.node(), c.admin.from)
	}
	if !c.manager.empty() {
		add("manager", c.manager.node(), c.manager.from)
	}
	if !c.logLevel.empty() {
		add("log", c.logLevel.node(), c.logLevel.from)
	}
	if !c.accessLog.empty() {
		add("access_log", c.accessLog.node(), c.accessLog.from)
	}
	if len(c.templates) > 0 {
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, t := range c.templates {
			m := t.node()
			m.HeadComment = "from " + t.from
			n.Content = append(n.Content, m)
		}
		add("hctemplates", n, "")
	}
	if bs := c.balancerNodes(); len(bs.Content) > 0 {
		add("balancers", bs, "")
	}
	if rs := c.routeNodes(); len(rs.Content) > 0 {
		add("routes", rs, "")
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root},
		HeadComment: "barkeep configuration converted from " + file + " by \"barkeep convert\".\n" +
			"Check it with \"barkeep check-config\"; docs/config.md describes every key."}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if len(root.Content) == 0 {
		root.Style = yaml.FlowStyle
	}
	if err := enc.Encode(doc); err != nil {
		return nil, &Error{File: file, Msg: "write the YAML: " + err.Error()}
	}
	enc.Close()
	return b.Bytes(), nil
}
