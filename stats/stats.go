// Package stats holds vmctl's one implementation of Student-t intervals:
// the benchmarks' paired VM/native ratios and the autoscaler's before/after
// comparison of a pool's throughput both come from here.
package stats

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Interval is an estimate with its confidence interval.
type Interval struct {
	Estimate float64 `json:"estimate"`
	Low      float64 `json:"low"`
	High     float64 `json:"high"`
	// HalfWidth is the relative half-width: (High-Low)/2/Estimate.
	HalfWidth float64 `json:"half_width"`
	// Level is the confidence level, e.g. 0.95; N the number of pairs
	// (for RatioOfMeans: of samples, both sides together).
	Level float64 `json:"level"`
	N     int     `json:"n"`
}

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
	margin := tQuantile(level, float64(n-1)) * sd / math.Sqrt(float64(n))
	iv.Estimate = math.Exp(mean)
	iv.Low = math.Exp(mean - margin)
	iv.High = math.Exp(mean + margin)
	iv.HalfWidth = (iv.High - iv.Low) / 2 / iv.Estimate
	return iv, nil
}

func positiveFinite(v float64) bool { return v > 0 && !math.IsInf(v, 1) }

// tQuantile is the two-sided Student-t critical value at level for nu
// degrees of freedom.
func tQuantile(level, nu float64) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: nu}.Quantile((1 + level) / 2)
}

// RatioOfMeans estimates after/before from two independent samples: the
// ratio of their geometric means, with Welch's Student-t interval at level
// computed on the logarithms and mapped back. Unpaired, unlike
// PairedRatio: the two sides were measured at different times (a pool
// before and after it grew), so nothing pairs one sample with another,
// and their spreads may differ.
//
// Each side needs two samples or more; with fewer the Interval has the
// estimate, Low 0 and High +Inf. Figures must be positive and finite
// (ErrBadFigure otherwise).
func RatioOfMeans(before, after []float64, level float64) (Interval, error) {
	if len(before) == 0 || len(after) == 0 {
		return Interval{}, errors.New("ratio of means: a side has no samples")
	}
	if !(level > 0 && level < 1) {
		return Interval{}, fmt.Errorf("ratio of means: confidence level %v is not between 0 and 1", level)
	}
	logs := func(side string, v []float64) ([]float64, error) {
		out := make([]float64, len(v))
		for i, x := range v {
			if !positiveFinite(x) {
				return nil, fmt.Errorf("ratio of means: %s sample %d (%v): %w", side, i, x, ErrBadFigure)
			}
			out[i] = math.Log(x)
		}
		return out, nil
	}
	lb, err := logs("before", before)
	if err != nil {
		return Interval{}, err
	}
	la, err := logs("after", after)
	if err != nil {
		return Interval{}, err
	}
	mb, vb := stat.MeanVariance(lb, nil)
	ma, va := stat.MeanVariance(la, nil)
	iv := Interval{Level: level, N: len(lb) + len(la), Estimate: math.Exp(ma - mb)}
	if len(lb) < 2 || len(la) < 2 {
		iv.Low, iv.High, iv.HalfWidth = 0, math.Inf(1), math.Inf(1)
		return iv, nil
	}
	nb, na := float64(len(lb)), float64(len(la))
	sb, sa := vb/nb, va/na
	se := math.Sqrt(sa + sb)
	var margin float64
	if se > 0 {
		// Welch-Satterthwaite degrees of freedom.
		nu := (sa + sb) * (sa + sb) / (sa*sa/(na-1) + sb*sb/(nb-1))
		margin = tQuantile(level, nu) * se
	}
	iv.Low = math.Exp(ma - mb - margin)
	iv.High = math.Exp(ma - mb + margin)
	iv.HalfWidth = (iv.High - iv.Low) / 2 / iv.Estimate
	return iv, nil
}

// MeanInterval is the arithmetic mean of samples with its Student-t
// interval at level. With one sample there is no interval (Low 0, High
// +Inf); with none, an error.
func MeanInterval(samples []float64, level float64) (Interval, error) {
	n := len(samples)
	if n == 0 {
		return Interval{}, errors.New("mean interval: no samples")
	}
	if !(level > 0 && level < 1) {
		return Interval{}, fmt.Errorf("mean interval: confidence level %v is not between 0 and 1", level)
	}
	iv := Interval{Level: level, N: n}
	if n == 1 {
		iv.Estimate, iv.High, iv.HalfWidth = samples[0], math.Inf(1), math.Inf(1)
		return iv, nil
	}
	mean, sd := stat.MeanStdDev(samples, nil)
	margin := tQuantile(level, float64(n-1)) * sd / math.Sqrt(float64(n))
	iv.Estimate, iv.Low, iv.High = mean, mean-margin, mean+margin
	if mean != 0 {
		iv.HalfWidth = margin / math.Abs(mean)
	}
	return iv, nil
}
