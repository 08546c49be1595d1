package agent

import (
	"math"
	"testing"
)

// The worked examples below were computed by hand from the formula in the
// package doc: L = Σ Lᵢ/Dⁱ ÷ Σ 1/Dⁱ, Load = 100 − round(100·L) in 1..100.
func TestHistoryWorkedExamples(t *testing.T) {
	for _, tt := range []struct {
		name  string
		h     History
		loads []float64
		want  []float64 // the average after each Add
		load  []int     // Factor of it
	}{
		{
			// 0.2; (0.4 + 0.2/2)/1.5 = 0.333; (0.8 + 0.4/2 + 0.2/4)/1.75 = 0.6
			name: "defaults: H=9, D=2", loads: []float64{0.2, 0.4, 0.8},
			want: []float64{0.2, 1.0 / 3, 0.6}, load: []int{80, 67, 40},
		},
		{
			// H=1 keeps two periods: (0.8 + 0.4/2)/1.5 = 0.667
			name: "history 1 forgets the third period", h: History{Size: 1}, loads: []float64{0.2, 0.4, 0.8},
			want: []float64{0.2, 1.0 / 3, 2.0 / 3}, load: []int{80, 67, 33},
		},
		{
			// D=1: the plain mean, (0.2+0.4+0.8)/3 = 0.467
			name: "decay 1 is the plain mean", h: History{Decay: 1}, loads: []float64{0.2, 0.4, 0.8},
			want: []float64{0.2, 0.3, 1.4 / 3}, load: []int{80, 70, 53},
		},
		{
			// D=4: (0 + 1/4)/(1 + 1/4) = 0.2
			name: "decay 4", h: History{Decay: 4}, loads: []float64{1, 0},
			want: []float64{1, 0.2}, load: []int{1, 80},
		},
		{
			name: "no history: only the current period", h: History{Size: -1}, loads: []float64{0.9, 0.1},
			want: []float64{0.9, 0.1}, load: []int{10, 90},
		},
		{
			// out-of-range loads are clamped before they enter the history
			name: "clamped", loads: []float64{1.7, -3},
			want: []float64{1, 0.5 / 1.5}, load: []int{1, 67},
		},
		{
			// The Java worker starts "fully loaded" (50, 75, 88...); this
			// starts from the first measurement: an idle node says 100.
			name: "fresh idle node", loads: []float64{0, 0, 0},
			want: []float64{0, 0, 0}, load: []int{100, 100, 100},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.h
			for i, l := range tt.loads {
				got := h.Add(l)
				if math.Abs(got-tt.want[i]) > 1e-9 {
					t.Errorf("after %v: load %.6f, want %.6f", tt.loads[:i+1], got, tt.want[i])
				}
				if f := Factor(got); f != tt.load[i] {
					t.Errorf("after %v: Load %d, want %d", tt.loads[:i+1], f, tt.load[i])
				}
			}
		})
	}
}

func TestHistoryKeepsSizePlusOnePeriods(t *testing.T) {
	var h History
	for range 30 {
		h.Add(0.5)
	}
	if h.Len() != DefaultHistory+1 {
		t.Fatalf("holds %d periods, want %d", h.Len(), DefaultHistory+1)
	}
	// Ten periods of 1 after many of 0.5: the 0.5s have left the window.
	for range 10 {
		h.Add(1)
	}
	if h.Load() != 1 {
		t.Fatalf("load %v after ten full periods, want 1", h.Load())
	}
}

func TestCombineWeightsAndCapacity(t *testing.T) {
	for _, tt := range []struct {
		name    string
		samples []Sample
		want    float64
		ok      bool
	}{
		// (2·0.5 + 1·min(150/100, 1)) / 3 = 2/3
		{"weights, capacity clamps", []Sample{{0.5, 1, 2}, {150, 100, 1}}, 2.0 / 3, true},
		// 3 of 4 cores busy with capacity 2 per core: 0.75/2 = 0.375
		{"capacity above 1", []Sample{{0.75, 2, 1}}, 0.375, true},
		{"negative value is 0", []Sample{{-5, 1, 1}, {1, 1, 1}}, 0.5, true},
		{"unusable samples skipped", []Sample{{1, 0, 1}, {0.3, 1, 0}, {math.NaN(), 1, 1}, {0.2, 1, 1}}, 0.2, true},
		{"nothing", nil, 0, false},
	} {
		got, ok := Combine(tt.samples)
		if ok != tt.ok || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Combine = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFactorRoundsAndClamps(t *testing.T) {
	for _, tt := range []struct {
		load float64
		want int
	}{
		{0, 100}, {0.004, 100}, {0.005, 99}, {0.5, 50}, {0.333, 67}, {0.994, 1}, {0.996, 1}, {1, 1},
		{-1, 100}, {2, 1}, {math.NaN(), 1},
	} {
		if got := Factor(tt.load); got != tt.want {
			t.Errorf("Factor(%v) = %d, want %d", tt.load, got, tt.want)
		}
	}
}

func TestParseMetric(t *testing.T) {
	m, err := ParseMetric("cpu:weight=2,capacity=1")
	if err != nil || m.Kind != CPU || m.Weight != 2 || m.Capacity != 1 {
		t.Fatalf("cpu: %+v, %v", m, err)
	}
	m, err = ParseMetric("prometheus:url=http://127.0.0.1:9/metrics?x=1,name=queue,type=counter,capacity=50")
	if err != nil || m.URL != "http://127.0.0.1:9/metrics?x=1" || m.Name != "queue" || m.Type != "counter" || m.Capacity != 50 {
		t.Fatalf("prometheus: %+v, %v", m, err)
	}
	if err := m.check(); err != nil {
		t.Fatalf("check: %v", err)
	}
	for _, bad := range []string{"cpus", "cpu:weight", "cpu:weight=x", "cpu:colour=red", "static:factor=1.5"} {
		if _, err := ParseMetric(bad); err == nil {
			t.Errorf("ParseMetric(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"requests", "prometheus:name=x,capacity=1", "prometheus:url=ftp://x,name=x,capacity=1",
		"prometheus:url=http://x/m,capacity=1", "prometheus:url=http://x/m,name=x,capacity=1,type=histogram",
		"static:factor=101", "cpu:weight=-1", "busyness:capacity=-3", "sessions:capacity=10"} {
		m, err := ParseMetric(bad)
		if err != nil {
			t.Errorf("ParseMetric(%q): %v", bad, err)
			continue
		}
		if err := m.check(); err == nil {
			t.Errorf("check accepted %q", bad)
		}
	}
}
