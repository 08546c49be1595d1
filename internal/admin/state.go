package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Diff is how the configured balancers running now differ from the
// configuration file: what operators changed through the API, the console
// or the balancer-manager. It is what `barkeep ctl diff` shows and what
// the state file (admin.state_file) keeps, to apply again at start and
// after a reload. Balancers made by MCMP nodes are not in it: their nodes
// register again after a restart.
type Diff struct {
	Balancers []BalancerDiff `json:"balancers"`
}

// BalancerDiff is one balancer's differences. Changes are balancer
// settings (lbmethod, timeout, maxattempts, nofailover, stickysession):
// Before is the file's value, After the running one.
type BalancerDiff struct {
	Name    string       `json:"name"`
	Changes []Change     `json:"changes,omitempty"`
	Members []MemberDiff `json:"members,omitempty"`
}

// MemberDiff is one member's difference: added at runtime (Added holds its
// settings), removed at runtime, or settings changed (status, loadfactor,
// lbset, route, redirect; Before from the file, After running).
type MemberDiff struct {
	Name    string      `json:"name"`
	Added   *MemberSpec `json:"added,omitempty"`
	Removed bool        `json:"removed,omitempty"`
	Changes []Change    `json:"changes,omitempty"`
}

// MemberSpec describes a member to add at runtime (POST
// /api/v1/balancers/{name}/members). URL is required
// ("scheme://host:port", scheme http, https, h2c or ajp); LoadFactor
// defaults to 1; Status holds flag letters (D S I H N). The connection
// settings (retry, timeouts, smax, ttl, health check, slow start, max)
// are copied from the balancer's first member, or are barkeep's defaults
// (retry 60s, connectiontimeout 5s, timeout 60s, smax 64, ttl 60s) when it
// has none.
type MemberSpec struct {
	URL        string `json:"url"`
	Route      string `json:"route,omitempty"`
	Redirect   string `json:"redirect,omitempty"`
	LoadFactor int    `json:"loadfactor,omitempty"`
	LBSet      int    `json:"lbset,omitempty"`
	Status     string `json:"status,omitempty"`
}

// Empty reports whether d holds no difference.
func (d Diff) Empty() bool { return len(d.Balancers) == 0 }

// diffOf compares the configured balancers of snap with baseline, the
// balancers as the configuration file describes them.
func diffOf(baseline []*registry.Balancer, snap *registry.Snapshot) Diff {
	out := Diff{Balancers: []BalancerDiff{}}
	for _, base := range baseline {
		run := snap.Balancer(base.Name)
		if run == nil || run.Source != registry.SourceConfig {
			continue
		}
		bd := BalancerDiff{Name: base.Name, Changes: diffFields(balancerFields, base, run)}
		for _, m := range run.Members {
			bm := base.Member(m.Name)
			if bm == nil {
				bd.Members = append(bd.Members, MemberDiff{Name: m.Name, Added: specOf(m)})
			} else if c := diffFields(memberFields, bm, m); len(c) > 0 {
				bd.Members = append(bd.Members, MemberDiff{Name: m.Name, Changes: c})
			}
		}
		for _, bm := range base.Members {
			if run.Member(bm.Name) == nil {
				bd.Members = append(bd.Members, MemberDiff{Name: bm.Name, Removed: true})
			}
		}
		if len(bd.Changes) > 0 || len(bd.Members) > 0 {
			out.Balancers = append(out.Balancers, bd)
		}
	}
	return out
}

func specOf(m *registry.Member) *MemberSpec {
	return &MemberSpec{URL: m.Name, Route: m.Route, Redirect: m.Redirect, LoadFactor: m.LoadFactor, LBSet: m.LBSet, Status: m.Status.String()}
}

// ApplyDiff makes the changes of diff in d, as cmd does right after
// loading the configuration (at start and on reload), so runtime edits
// survive both: each change sets the running value (After) whatever the
// file says now. A change that no longer applies (its balancer or member
// is gone from the file, or the value is refused) is skipped; the
// returned errors say which, one per skipped change. canon turns a member
// URL into its canonical name (cmd passes the configuration's rule); nil
// keeps URLs as written.
func ApplyDiff(d *registry.Draft, diff Diff, now time.Time, canon func(string) (string, error)) []error {
	var skipped []error
	skip := func(err error) { skipped = append(skipped, err) }
	for _, bd := range diff.Balancers {
		if b := d.Balancer(bd.Name); b == nil || b.Source != registry.SourceConfig {
			skip(fmt.Errorf("balancer %s: not in the configuration; its runtime changes are dropped", bd.Name))
			continue
		}
		for _, c := range bd.Changes {
			if err := d.EditBalancer(bd.Name, func(b *registry.Balancer) error { return setField(balancerFields, b, c.Field, c.After) }); err != nil {
				skip(fmt.Errorf("balancer %s: %s: %w", bd.Name, c.Field, err))
			}
		}
		for _, md := range bd.Members {
			if err := applyMemberDiff(d, bd.Name, md, now, canon); err != nil {
				skip(fmt.Errorf("balancer %s member %s: %w", bd.Name, md.Name, err))
			}
		}
	}
	return skipped
}

func applyMemberDiff(d *registry.Draft, bal string, md MemberDiff, now time.Time, canon func(string) (string, error)) error {
	switch {
	case md.Removed:
		return removeMember(d, bal, md.Name)
	case md.Added != nil:
		if d.Balancer(bal).Member(md.Name) != nil {
			return nil // the file has it now
		}
		return addMember(d, bal, *md.Added, now, canon)
	}
	return d.EditMember(bal, md.Name, func(m *registry.Member) error {
		before := m.Status
		for _, c := range md.Changes {
			if err := setField(memberFields, m, c.Field, c.After); err != nil {
				return err
			}
		}
		markStatusChange(before, m, now)
		return nil
	})
}

// addMember adds a member described by spec to the configured balancer
// bal.
func addMember(d *registry.Draft, bal string, spec MemberSpec, now time.Time, canon func(string) (string, error)) error {
	b := d.Balancer(bal)
	if b == nil {
		return fmt.Errorf("%w: %q", registry.ErrNoBalancer, bal)
	}
	if b.Source != registry.SourceConfig {
		return fmt.Errorf("%w: balancer %s is made by MCMP node registrations; its members come and go with the nodes", ErrConflict, bal)
	}
	m, err := newMember(b, spec, now, canon)
	if err != nil {
		return err
	}
	if b.Member(m.Name) != nil {
		return fmt.Errorf("%w: balancer %s already has member %s", ErrConflict, bal, m.Name)
	}
	if m.Route != "" && b.ByRoute(m.Route) != nil {
		return fmt.Errorf("%w: balancer %s already has a member with route %q", ErrConflict, bal, m.Route)
	}
	nb := b.Clone()
	nb.Members = append(nb.Members, m)
	return d.PutBalancer(nb)
}

// removeMember removes member name from the configured balancer bal.
func removeMember(d *registry.Draft, bal, name string) error {
	b := d.Balancer(bal)
	if b == nil {
		return fmt.Errorf("%w: %q", registry.ErrNoBalancer, bal)
	}
	if b.Source != registry.SourceConfig {
		return fmt.Errorf("%w: balancer %s is made by MCMP node registrations; remove the node with REMOVE-APP instead", ErrConflict, bal)
	}
	if b.Member(name) == nil {
		return fmt.Errorf("%w: %q in balancer %q", registry.ErrNoMember, name, bal)
	}
	nb := b.Clone()
	nb.Members = nb.Members[:0]
	for _, m := range b.Members {
		if m.Name != name {
			nb.Members = append(nb.Members, m)
		}
	}
	return d.PutBalancer(nb)
}

// newMember builds the member spec describes, with the connection
// settings of b's first member (see MemberSpec).
func newMember(b *registry.Balancer, spec MemberSpec, now time.Time, canon func(string) (string, error)) (*registry.Member, error) {
	name, err := canonicalMember(spec.URL, canon)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	u, err := url.Parse(name)
	if err != nil {
		return nil, fmt.Errorf("%w: member url %q: %w", ErrBadRequest, spec.URL, err)
	}
	m := registry.Member{Retry: time.Minute, ConnectionTimeout: 5 * time.Second, Timeout: time.Minute, SMax: 64, TTL: time.Minute}
	if len(b.Members) > 0 {
		m = *b.Members[0]
		m.Stats, m.Domain = nil, ""
	}
	m.Name, m.URL, m.StatusSince = name, u, now
	m.Route, m.Redirect, m.LoadFactor, m.LBSet, m.Status = "", "", max(spec.LoadFactor, 1), 0, 0
	for _, f := range [][2]string{{"route", spec.Route}, {"redirect", spec.Redirect}, {"status", spec.Status}} {
		if err := setField(memberFields, &m, f[0], f[1]); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
	}
	if err := setField(memberFields, &m, "lbset", fmt.Sprint(spec.LBSet)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if m.LoadFactor > 100 {
		return nil, fmt.Errorf("%w: loadfactor %d: want a whole number in 1..100", ErrBadRequest, spec.LoadFactor)
	}
	return &m, nil
}

// canonicalMember returns the member name for raw: canon's when given,
// else "scheme://host:port" as parsed.
func canonicalMember(raw string, canon func(string) (string, error)) (string, error) {
	if canon != nil {
		return canon(raw)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Port() == "" {
		return "", fmt.Errorf("member url %q: want scheme://host:port", raw)
	}
	switch u.Scheme {
	case "http", "https", "h2c", "ajp":
	default:
		return "", fmt.Errorf("member url %q: scheme must be http, https, h2c or ajp", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// stateFile is the state file's shape.
type stateFile struct {
	// Format is 1.
	Format int       `json:"format"`
	Saved  time.Time `json:"saved"`
	Diff
}

// LoadState reads the state file at path: the runtime edits saved by a
// previous run. A missing file is an empty Diff. A file that is not a
// state file is an error (the caller decides whether to move it aside).
func LoadState(path string) (Diff, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Diff{}, nil
	}
	if err != nil {
		return Diff{}, fmt.Errorf("read state file: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return Diff{}, fmt.Errorf("state file %s: %w", path, err)
	}
	if f.Format != 1 {
		return Diff{}, fmt.Errorf("state file %s: format %d, want 1", path, f.Format)
	}
	return f.Diff, nil
}

// writeState replaces the file at path with d atomically: a temporary
// file in the same directory is written, synced and renamed over it, so a
// crash leaves the old file or the new one, never a half.
func writeState(path string, d Diff, now time.Time) error {
	b, err := json.MarshalIndent(stateFile{Format: 1, Saved: now.UTC(), Diff: d}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".barkeep-state-*")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename: nothing to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Diff returns how the running configured balancers differ from the
// configuration (Options.Baseline); empty without a baseline.
func (h *Handler) Diff() Diff {
	if h.baseline == nil {
		return Diff{Balancers: []BalancerDiff{}}
	}
	return diffOf(h.baseline(), h.store.Load())
}

// SaveState writes the current Diff to the state file, if there is one.
// Writers are serialised, so the file ends with the latest state. A
// failure is logged: the change itself stays applied.
func (h *Handler) SaveState() {
	if h.statePath == "" || h.baseline == nil {
		return
	}
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	if err := writeState(h.statePath, h.Diff(), h.now()); err != nil {
		h.log.Error("runtime change applied but not saved; it will be lost at restart", "err", err)
	}
}
