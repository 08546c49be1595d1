package registry

import (
	"fmt"
	"math/bits"
	"slices"
)

// idSet is a set of small non-negative ints (node slots, host and context
// row ids) as a bitmap. Published sets are never modified: a Draft copies
// a set before its first change (O(max id / 64)).
type idSet struct {
	words []uint64
	n     int
}

func (s *idSet) has(id int) bool {
	w := id / 64
	return id >= 0 && w < len(s.words) && s.words[w]&(1<<(id%64)) != 0
}

func (s *idSet) add(id int) {
	w := id / 64
	if w >= len(s.words) {
		s.words = append(s.words, make([]uint64, w+1-len(s.words))...)
	}
	if s.words[w]&(1<<(id%64)) == 0 {
		s.words[w] |= 1 << (id % 64)
		s.n++
	}
}

func (s *idSet) remove(id int) {
	if s.has(id) {
		s.words[id/64] &^= 1 << (id % 64)
		s.n--
	}
}

// nextFree returns the smallest id >= from that is not in s.
func (s *idSet) nextFree(from int) int {
	from = max(from, 0)
	for w := from / 64; w < len(s.words); w++ {
		free := ^s.words[w]
		if w == from/64 {
			free &^= 1<<(from%64) - 1 // bits below from
		}
		if free != 0 {
			return w*64 + bits.TrailingZeros64(free)
		}
	}
	return max(from, len(s.words)*64)
}

// rowIDs are the ids a node occupies: its slot and its host and context
// rows.
type rowIDs struct {
	nodes, hosts, contexts idSet
}

// clone returns a copy whose sets may be changed.
func (r *rowIDs) clone() *rowIDs {
	c := *r
	c.nodes.words = slices.Clone(r.nodes.words)
	c.hosts.words = slices.Clone(r.hosts.words)
	c.contexts.words = slices.Clone(r.contexts.words)
	return &c
}

// replace moves the ids of old (nil for none) to those of n (nil for
// none). It fails, changing nothing, when an id of n is negative, used by
// another node or used twice by n.
func (r *rowIDs) replace(old, n *Node) error {
	r.move(old, nil)
	if err := r.move(nil, n); err != nil {
		r.move(nil, old) // move took n's ids back out; old's were there before

		return err
	}
	return nil
}

// move removes the ids of from and adds those of to. Adding stops at the
// first id that is negative or present, after taking back the ids it added.
func (r *rowIDs) move(from, to *Node) error {
	if from != nil {
		r.nodes.remove(from.ID)
		for _, h := range from.Hosts {
			r.hosts.remove(h.ID)
		}
		for _, c := range from.Contexts {
			r.contexts.remove(c.ID)
		}
	}
	if to == nil {
		return nil
	}
	if to.ID < 0 || r.nodes.has(to.ID) {
		return fmt.Errorf("%w: node %q: slot %d is taken", ErrInvalid, to.JVMRoute, to.ID)
	}
	r.nodes.add(to.ID)
	for i, h := range to.Hosts {
		if h.ID < 0 || r.hosts.has(h.ID) {
			r.nodes.remove(to.ID)
			for _, h := range to.Hosts[:i] {
				r.hosts.remove(h.ID)
			}
			return fmt.Errorf("%w: node %q: host row %d is taken", ErrInvalid, to.JVMRoute, h.ID)
		}
		r.hosts.add(h.ID)
	}
	for i, c := range to.Contexts {
		if c.ID < 0 || r.contexts.has(c.ID) {
			r.move(&Node{ID: to.ID, Hosts: to.Hosts, Contexts: to.Contexts[:i]}, nil)
			return fmt.Errorf("%w: node %q: context row %d is taken", ErrInvalid, to.JVMRoute, c.ID)
		}
		r.contexts.add(c.ID)
	}
	return nil
}
