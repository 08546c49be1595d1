// Package balancer chooses one member of a balancer for a request that has
// no usable sticky route, with httpd's lbmethods.
//
// Selection is a pure function of the snapshot, the members' counters and
// the per-request inputs in [Pick]: it does no I/O, takes no lock, reads no
// clock and does not allocate. The caller owns the state: it draws Seq from
// the balancer's atomic sequence and Rand from math/rand/v2.
//
// Members are considered tier by tier (see registry.Balancer.Tiers): lbset
// 0 before lbset 1, and inside an lbset the hot standbys only when no
// ordinary member is usable. Draining and stopped members are in no tier.
package balancer

import (
	"errors"
	"slices"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// ErrNoMember is returned when no member of the balancer may take the
// request.
var ErrNoMember = errors.New("balancer: no usable member")

// Pick carries the per-request inputs a selection may use.
type Pick struct {
	// Seq increases by one per selection in the balancer; it indexes the
	// byrequests schedule and rotates tie-breaks.
	Seq uint64
	// Rand is a random value for the random method.
	Rand uint64
	// Now is the time of the request in Unix nanoseconds; it decides
	// whether a member in error or disabled may be tried again.
	Now int64
	// Tried lists members already tried for this request; they are not
	// chosen again.
	Tried []*registry.Member
	// Domain, when set, admits only members of that load-balancing group.
	Domain string
}

// Select returns the member of b that should take a new request, or
// ErrNoMember when none is usable. It is safe for concurrent use.
func Select(b *registry.Balancer, p Pick) (*registry.Member, error) {
	for _, t := range b.Tiers() {
		var m *registry.Member
		switch b.LBMethod {
		case registry.ByTraffic:
			m = byTraffic(t, p)
		case registry.ByBusyness:
			m = byBusyness(t, p)
		case registry.Random:
			m = fromSchedule(t, p.Rand, &filter{p: p})
		default:
			m = fromSchedule(t, p.Seq, &filter{p: p})
		}
		if m != nil {
			return m, nil
		}
	}
	return nil, ErrNoMember
}

// Candidate reports whether m may be chosen for the request described by p:
// usable at p.Now, below its max, not tried yet, and in p.Domain if set.
func Candidate(m *registry.Member, p Pick) bool {
	return m.Usable(p.Now) && m.HasRoom() && !slices.Contains(p.Tried, m) && (p.Domain == "" || m.Domain == p.Domain)
}

// admits reports whether a member in slow start takes the pick drawn as x:
// with probability Ramp/1000, so its share grows with its ramp.
func admits(m *registry.Member, x uint64, now int64) bool {
	r := m.Ramp(now)
	return r >= 1000 || int64(mix(x^0x5bd1e995)%1000) < r
}

// filter decides which members a selection may return: candidates, and
// with tie set only those whose busy per weight (loadfactor × slow-start
// ramp) equals busy/weight.
type filter struct {
	p            Pick
	tie          bool
	busy, weight int64
}

func (f *filter) ok(m *registry.Member) bool {
	if f.tie && m.Stats.Busy.Load()*f.weight != f.busy*int64(m.LoadFactor)*m.Ramp(f.p.Now) {
		return false
	}
	return Candidate(m, f.p)
}

// fromSchedule returns the schedule entry at index x if f accepts it (and
// it is not in slow start, or its ramp admits the draw). Otherwise it
// redraws from the schedule with hashes of x, so the missing member's
// share spreads over the others in proportion to their loadfactors, and
// finally scans the tier.
func fromSchedule(t registry.Tier, x uint64, f *filter) *registry.Member {
	s := t.Schedule
	n := uint64(len(s))
	if m := s[x%n]; f.ok(m) && admits(m, x, f.p.Now) {
		return m
	}
	h := x
	for range 8 {
		h = mix(h)
		if m := s[h%n]; f.ok(m) && admits(m, h, f.p.Now) {
			return m
		}
	}
	n = uint64(len(t.Members))
	for i := range n {
		if m := t.Members[(x+i)%n]; f.ok(m) {
			return m
		}
	}
	return nil
}

// byTraffic returns the candidate with the fewest bytes read and
// transferred per loadfactor (httpd's bytraffic). Ties go to the member
// found first when scanning from a position that rotates with Seq.
func byTraffic(t registry.Tier, p Pick) *registry.Member {
	var best *registry.Member
	var bestTraffic uint64
	n := uint64(len(t.Members))
	for i := range n {
		m := t.Members[(p.Seq+i)%n]
		if !Candidate(m, p) {
			continue
		}
		// Slow start scales the loadfactor down by the ramp (thousandths).
		traffic := (m.Stats.Read.Load() + m.Stats.Transferred.Load()) * 1000 / uint64(int64(m.LoadFactor)*m.Ramp(p.Now))
		if best == nil || traffic < bestTraffic {
			best, bestTraffic = m, traffic
		}
	}
	return best
}

// byBusyness returns the candidate with the fewest in-flight requests per
// loadfactor (httpd's bybusyness). Among equally busy members the
// byrequests schedule decides.
func byBusyness(t registry.Tier, p Pick) *registry.Member {
	var best *registry.Member
	var bestBusy, bestWeight int64
	for _, m := range t.Members {
		if !Candidate(m, p) {
			continue
		}
		// busy/weight, the weight being the loadfactor scaled by the
		// slow-start ramp; compared by cross-multiplication.
		busy, weight := m.Stats.Busy.Load(), int64(m.LoadFactor)*m.Ramp(p.Now)
		if best == nil || busy*bestWeight < bestBusy*weight {
			best, bestBusy, bestWeight = m, busy, weight
		}
	}
	if best == nil {
		return nil
	}
	f := filter{p: p, tie: true, busy: bestBusy, weight: bestWeight}
	if m := fromSchedule(t, p.Seq, &f); m != nil {
		return m
	}
	return best // the counters moved under us; the minimum seen is fine
}

// mix is the splitmix64 finaliser: a cheap, well-spread hash of x.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
