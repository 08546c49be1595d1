package registry

import (
	"fmt"
	"slices"
)

// derive fills b's indexes, member hosts and tiers, checking its members.
// When prev (the version of b it replaces, or nil) has the very same
// members, their derived data is shared without looking at them again, so
// rewriting a balancer's settings costs O(1) whatever its size.
func derive(b, prev *Balancer) error {
	if prev != nil && prev.derived && slices.Equal(prev.Members, b.Members) {
		b.byRoute, b.byName, b.hostRefs, b.hosts, b.tiers = prev.byRoute, prev.byName, prev.hostRefs, prev.hosts, prev.tiers
		b.derived = true
		return nil
	}
	routed := 0
	hostRefs := make(map[string]int)
	var hosts []string
	for _, m := range b.Members {
		if err := checkMember(b.Name, m); err != nil {
			return err
		}
		if m.Route != "" {
			routed++
		}
		if hostRefs[m.URL.Host] == 0 {
			hosts = append(hosts, m.URL.Host)
		}
		hostRefs[m.URL.Host]++
	}
	name := func(m *Member) string { return m.Name }
	route := func(m *Member) string { return m.Route }
	self := func(m *Member) *Member { return m }
	b.byName = indexOf(b.Members, name, self)
	if b.byName.Len() != len(b.Members) {
		return fmt.Errorf("%w: balancer %q: member %s listed twice", ErrInvalid, b.Name, firstDuplicate(b.Members, name))
	}
	b.byRoute = indexOf(slices.DeleteFunc(slices.Clone(b.Members), func(m *Member) bool { return m.Route == "" }), route, self)
	if b.byRoute.Len() != routed {
		return fmt.Errorf("%w: balancer %q: route %q used by two members", ErrInvalid, b.Name, firstDuplicate(b.Members, route))
	}
	b.hostRefs = indexOf(hosts, func(h string) string { return h }, func(h string) int { return hostRefs[h] })
	b.hosts, b.tiers, b.derived = hosts, tiers(b.Members), true
	return nil
}

// firstDuplicate returns the first non-empty key that two members share.
func firstDuplicate(members []*Member, key func(*Member) string) string {
	seen := map[string]bool{}
	for _, m := range members {
		if k := key(m); k != "" {
			if seen[k] {
				return k
			}
			seen[k] = true
		}
	}
	return ""
}

// replaceMember returns a copy of the derived balancer b in which member
// old (nil: none) is replaced by m (nil: none), in place, or m appended.
// Its indexes change by one key each and its tiers are rebuilt: O(members)
// light work, no hashing of every member. m must have Stats.
func replaceMember(b *Balancer, old, m *Member) (*Balancer, error) {
	if m != nil {
		if err := checkMember(b.Name, m); err != nil {
			return nil, err
		}
		if o := b.Member(m.Name); o != nil && o != old {
			return nil, fmt.Errorf("%w: balancer %q: member %s listed twice", ErrInvalid, b.Name, m.Name)
		}
		if o := b.ByRoute(m.Route); o != nil && o != old {
			return nil, fmt.Errorf("%w: balancer %q: route %q used by two members", ErrInvalid, b.Name, m.Route)
		}
	}
	nb := b.Clone()
	i := slices.Index(nb.Members, old)
	switch {
	case old != nil && i < 0:
		return nil, fmt.Errorf("%w: balancer %q has no member %s to replace", ErrInvalid, b.Name, old.Name)
	case old != nil && m != nil:
		nb.Members[i] = m
	case old != nil:
		nb.Members = slices.Delete(nb.Members, i, i+1)
	case m != nil:
		nb.Members = append(nb.Members, m)
	}
	nb.byName, nb.byRoute, nb.hostRefs, nb.hosts = b.byName, b.byRoute, b.hostRefs, b.hosts
	if old != nil {
		nb.byName = nb.byName.Without(old.Name)
		if old.Route != "" {
			nb.byRoute = nb.byRoute.Without(old.Route)
		}
		nb.unrefHost(old.URL.Host)
	}
	if m != nil {
		nb.byName = nb.byName.With(m.Name, m)
		if m.Route != "" {
			nb.byRoute = nb.byRoute.With(m.Route, m)
		}
		nb.refHost(m.URL.Host)
	}
	nb.tiers, nb.derived = tiers(nb.Members), true
	return nb, nil
}

func (b *Balancer) refHost(h string) {
	n, _ := b.hostRefs.Get(h)
	if n == 0 {
		b.hosts = append(slices.Clip(b.hosts), h)
	}
	b.hostRefs = b.hostRefs.With(h, n+1)
}

func (b *Balancer) unrefHost(h string) {
	n, _ := b.hostRefs.Get(h)
	if n > 1 {
		b.hostRefs = b.hostRefs.With(h, n-1)
		return
	}
	b.hostRefs = b.hostRefs.Without(h)
	if i := slices.Index(b.hosts, h); i >= 0 {
		b.hosts = slices.Delete(slices.Clone(b.hosts), i, i+1)
	}
}

// patch returns a copy of base, which is sorted by cmp with unique keys,
// without the elements whose keys drop holds and with the elements of add
// inserted in order. It costs O(len(base)) copying plus O(k log n)
// searching for k changes, instead of sorting everything again. add is
// sorted in place.
func patch[T any](base, drop, add []T, cmp func(a, b T) int) []T {
	slices.SortFunc(add, cmp)
	var cut []int // indexes of base to leave out, ascending
	for _, x := range drop {
		if i, ok := slices.BinarySearchFunc(base, x, cmp); ok {
			cut = append(cut, i)
		}
	}
	slices.Sort(cut)
	out := make([]T, 0, len(base)-len(cut)+len(add))
	start, c := 0, 0
	for _, x := range add {
		pos, _ := slices.BinarySearchFunc(base, x, cmp)
		for ; c < len(cut) && cut[c] < pos; c++ {
			out = append(out, base[start:cut[c]]...)
			start = cut[c] + 1
		}
		if start < pos {
			out = append(out, base[start:pos]...)
			start = pos
		}
		out = append(out, x)
	}
	for ; c < len(cut); c++ {
		out = append(out, base[start:cut[c]]...)
		start = cut[c] + 1
	}
	return append(out, base[start:]...)
}
