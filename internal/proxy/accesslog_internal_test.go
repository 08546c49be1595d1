package proxy

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestLineQueueKeepsEveryProducersOrder pushes numbered lines from several
// goroutines while one consumer pops: every line arrives once, and each
// producer's lines in the order it pushed them.
func TestLineQueueKeepsEveryProducersOrder(t *testing.T) {
	const producers, lines = 8, 5000
	var q lineQueue
	q.init()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range lines {
				q.push(&logLine{b: []byte(strconv.Itoa(p) + " " + strconv.Itoa(i))})
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	next := make([]int, producers)
	got := 0
	check := func(n *logLine) {
		var p, i int
		for j, c := range n.b {
			if c == ' ' {
				p, _ = strconv.Atoi(string(n.b[:j]))
				i, _ = strconv.Atoi(string(n.b[j+1:]))
			}
		}
		if i != next[p] {
			t.Fatalf("producer %d: line %d after %d", p, i, next[p]-1)
		}
		next[p]++
		got++
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		for n := q.pop(); n != nil; n = q.pop() {
			check(n)
		}
	}
	for n := q.pop(); n != nil; n = q.pop() {
		check(n)
	}
	if got != producers*lines {
		t.Errorf("popped %d lines, want %d", got, producers*lines)
	}
}

// TestStampFollowsTheTime: the cached timestamp is the formatted time for
// every second and location, including going back and forth.
func TestStampFollowsTheTime(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	base := time.Date(2026, 12, 6, 21, 59, 59, 900e6, time.UTC)
	for _, tm := range []time.Time{base, base.Add(50 * time.Millisecond), base.Add(time.Second), base, base.In(paris), base.Add(time.Second).In(paris)} {
		if got, want := string(appendStamp(nil, tm)), tm.Format("02/Jan/2006:15:04:05 -0700"); got != want {
			t.Errorf("appendStamp(%v) = %q, want %q", tm, got, want)
		}
	}
}
