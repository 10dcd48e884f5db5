package bench

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// ErrBadFigure is returned for a pair whose native or VM figure is not a
// positive finite number: its ratio has no logarithm, and dropping the
// pair quietly would bias the estimate towards the pairs that worked.
var ErrBadFigure = errors.New("figure is not a positive finite number")

// PairedRatio estimates vm/native from paired runs: the geometric mean
// of the per-pair ratios vm[i]/native[i], with a Student-t interval at
// level (e.g. 0.95) computed on their logarithms and mapped back.
//
// Logarithms because a ratio's error is multiplicative: 0.5 and 2 are
// equally far from 1, and the mean of log ratios is not pulled up by
// one slow native run the way the mean of ratios is. Pairing because
// both runs of a pair saw the same host state, so host drift cancels in
// their ratio instead of widening the interval.
//
// With one pair there is no spread to estimate: the Interval has the
// estimate, Low 0, High and HalfWidth +Inf, so no width target is ever
// met by it. The error is ErrBadFigure (wrapped, naming the pair) for a
// figure <= 0, NaN or infinite; other errors mean the arguments were
// wrong (no pairs, lengths differ, level outside (0, 1)).
func PairedRatio(native, vm []float64, level float64) (Interval, error) {
	if len(native) != len(vm) {
		return Interval{}, fmt.Errorf("paired ratio: %d native figures but %d VM figures", len(native), len(vm))
	}
	n := len(native)
	if n == 0 {
		return Interval{}, errors.New("paired ratio: no pairs")
	}
	if !(level > 0 && level < 1) {
		return Interval{}, fmt.Errorf("paired ratio: confidence level %v is not between 0 and 1", level)
	}
	logs := make([]float64, n)
	for i := range native {
		if !positiveFinite(native[i]) || !positiveFinite(vm[i]) {
			return Interval{}, fmt.Errorf("paired ratio: pair %d (native %v, VM %v): %w", i, native[i], vm[i], ErrBadFigure)
		}
		logs[i] = math.Log(vm[i]) - math.Log(native[i])
	}
	iv := Interval{Level: level, N: n}
	if n == 1 {
		iv.Estimate = vm[0] / native[0]
		iv.Low, iv.High, iv.HalfWidth = 0, math.Inf(1), math.Inf(1)
		return iv, nil
	}
	mean, sd := stat.MeanStdDev(logs, nil)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile((1 + level) / 2)
	margin := t * sd / math.Sqrt(float64(n))
	iv.Estimate = math.Exp(mean)
	iv.Low = math.Exp(mean - margin)
	iv.High = math.Exp(mean + margin)
	iv.HalfWidth = (iv.High - iv.Low) / 2 / iv.Estimate
	return iv, nil
}

func positiveFinite(v float64) bool { return v > 0 && !math.IsInf(v, 1) }

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
