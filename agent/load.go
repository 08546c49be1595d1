package agent

import "math"

// Defaults of the load model (mod_cluster's DynamicLoadBalanceFactorProvider).
const (
	DefaultHistory = 9 // earlier periods kept besides the current one
	DefaultDecay   = 2 // weight ratio between a period and the one before it
)

// Sample is one metric's reading in one period.
type Sample struct {
	Value    float64 // in the metric's unit
	Capacity float64 // the value that counts as full load; > 0
	Weight   float64 // the metric's share among the metrics; > 0
}

// Combine is the load of one period in 0..1: each sample's Value/Capacity,
// clamped to 0..1, averaged with the samples' weights. With no samples it
// returns 0 and false.
func Combine(samples []Sample) (float64, bool) {
	var sum, weights float64
	for _, s := range samples {
		if s.Weight <= 0 || s.Capacity <= 0 || math.IsNaN(s.Value) {
			continue
		}
		sum += s.Weight * clamp(s.Value/s.Capacity, 0, 1)
		weights += s.Weight
	}
	if weights == 0 {
		return 0, false
	}
	return sum / weights, true
}

// History keeps the combined loads of the last periods and averages them
// with decay, as mod_cluster does: with L₀ the newest period and Lᵢ the
// one i periods earlier, the load is Σ Lᵢ/Dⁱ ÷ Σ 1/Dⁱ over the periods
// held (at most Size+1). Unlike the Java worker, whose history starts
// full of "fully loaded" periods (a fresh node reports 50, 75, 88 ...),
// it starts empty: the first report is the first measurement. The zero
// value holds DefaultHistory periods with DefaultDecay.
type History struct {
	Size  int     // earlier periods kept; default DefaultHistory; negative: none
	Decay float64 // > 1 weighs recent periods more; default DefaultDecay

	loads []float64 // newest first
}

// Add records the load of a new period (clamped to 0..1) and returns the
// decayed average over the periods held.
func (h *History) Add(load float64) float64 {
	size := h.Size
	if size == 0 {
		size = DefaultHistory
	}
	size = max(size, 0)
	h.loads = append([]float64{clamp(load, 0, 1)}, h.loads...)
	if len(h.loads) > size+1 {
		h.loads = h.loads[:size+1]
	}
	return h.Load()
}

// Load is the decayed average of the periods held; 0 when none is.
func (h *History) Load() float64 {
	d := h.Decay
	if d == 0 {
		d = DefaultDecay
	}
	var sum, norm float64
	w := 1.0
	for _, l := range h.loads {
		sum += l * w
		norm += w
		w /= d
	}
	if norm == 0 {
		return 0
	}
	return sum / norm
}

// Len is the number of periods held.
func (h *History) Len() int { return len(h.loads) }

// Factor turns a load in 0..1 into the Load a STATUS carries: 100 −
// round(100·load), clamped to 1..100 (100 idle, 1 saturated; 0 and −1 are
// kept for hot standby and down).
func Factor(load float64) int {
	if math.IsNaN(load) {
		return 1
	}
	return int(clamp(100-math.Round(100*clamp(load, 0, 1)), 1, 100))
}

func clamp(v, lo, hi float64) float64 {
	if math.IsNaN(v) {
		return lo
	}
	return min(max(v, lo), hi)
}
