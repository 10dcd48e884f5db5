package bench

import (
	"maps"
	"slices"
)

// SamplesOf returns the figures of every sample r has on side, in the
// order they were taken, paired or not.
func SamplesOf(r Result, side Side) []float64 {
	var out []float64
	for _, s := range r.Samples {
		if s.Side == side {
			out = append(out, s.Value)
		}
	}
	return out
}

// Pairs returns the figures of r's complete pairs, ordered by pair
// number: native[i] and vm[i] ran as one pair. A pair missing a side
// (a run that failed half-way) is left out, and so is a pair with two
// samples on one side, as nothing says which of the two belongs to it.
func Pairs(r Result) (native, vm []float64) {
	type pair struct {
		native, vm []float64
	}
	byNumber := map[int]*pair{}
	for _, s := range r.Samples {
		p := byNumber[s.Pair]
		if p == nil {
			p = &pair{}
			byNumber[s.Pair] = p
		}
		switch s.Side {
		case Native:
			p.native = append(p.native, s.Value)
		case VM:
			p.vm = append(p.vm, s.Value)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(byNumber)) {
		p := byNumber[k]
		if len(p.native) == 1 && len(p.vm) == 1 {
			native = append(native, p.native[0])
			vm = append(vm, p.vm[0])
		}
	}
	return native, vm
}
