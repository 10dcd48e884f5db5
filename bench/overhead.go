package bench

import (
	"context"
	"fmt"
	"github.com/vmctl/vmctl/stats"
	"math"
	"time"
)

// Sides runs a workload once on the native side or in the variant's VM.
type Sides interface {
	Run(ctx context.Context, side Side, wl Workload) (value float64, unit string, wall time.Duration, err error)
}

// Plan bounds the repetitions of one workload on one variant.
type Plan struct {
	// Target is the relative half-width to reach (0.03 for ±3%), at Level.
	Target float64
	Level  float64
	// Warmup runs per side are made and thrown away first (page cache,
	// CPU frequency, the guest's first touch of its memory).
	Warmup   int
	MinPairs int
	MaxPairs int
}

// DefaultPlan: ±3% at 95%, two warm-up runs, 5 to 200 pairs. Five pairs
// is the fewest for which a t interval is more than a formality.
func DefaultPlan() Plan {
	return Plan{Target: 0.03, Level: 0.95, Warmup: 2, MinPairs: 5, MaxPairs: 200}
}

// Validate names the bad setting and its fix.
func (p Plan) Validate() error {
	switch {
	case !(p.Target > 0 && p.Target < 1):
		return fmt.Errorf("--target %v: give the interval's relative half-width, e.g. 0.03 for ±3%%", p.Target)
	case !(p.Level > 0 && p.Level < 1):
		return fmt.Errorf("confidence level %v must be between 0 and 1", p.Level)
	case p.MinPairs < 2:
		return fmt.Errorf("--min-reps %d: an interval needs at least 2 pairs", p.MinPairs)
	case p.MaxPairs < p.MinPairs:
		return fmt.Errorf("--max-reps %d is below --min-reps %d", p.MaxPairs, p.MinPairs)
	case p.Warmup < 0:
		return fmt.Errorf("--warmup %d must not be negative", p.Warmup)
	}
	return nil
}

// Measure runs wl natively and in the VM in alternating pairs until the
// ratio's interval is within the target, MaxPairs is reached, or the
// deadline passes. Each pair flips the order (native first, then VM first)
// so slow drift in the host (thermal, other load) cancels rather than
// favouring one side. progress, if set, sees each finished pair.
func Measure(ctx context.Context, sides Sides, wl Workload, variant string, shape Shape, plan Plan, deadline time.Time, progress func(Result)) (Result, error) {
	r := Result{Workload: wl.Label(), Args: wl.ArgList(), Variant: variant, Shape: shape}
	for i := 0; i < plan.Warmup; i++ {
		for _, side := range []Side{Native, VM} {
			if _, _, _, err := sides.Run(ctx, side, wl); err != nil {
				return r, fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	for pair := 0; ; pair++ {
		if pair >= plan.MaxPairs {
			r.Stop = fmt.Sprintf("stopped at the maximum of %d pairs with ±%.1f%% (target ±%.1f%%)", plan.MaxPairs, r.Ratio.HalfWidth*100, plan.Target*100)
			return r, nil
		}
		if pair >= plan.MinPairs && time.Now().After(deadline) {
			r.Stop = fmt.Sprintf("time budget ran out after %d pairs with ±%.1f%% (target ±%.1f%%): the samples vary more than the budget can average out; give a larger --budget or accept the wider interval",
				pair, r.Ratio.HalfWidth*100, plan.Target*100)
			return r, nil
		}
		order := []Side{Native, VM}
		if pair%2 == 1 {
			order = []Side{VM, Native}
		}
		for _, side := range order {
			v, unit, wall, err := sides.Run(ctx, side, wl)
			if err != nil {
				return r, err
			}
			if r.Unit == "" {
				r.Unit = unit
			}
			r.Samples = append(r.Samples, Sample{Side: side, Pair: pair, Value: v, Wall: wall, At: time.Now()})
		}
		native, vm := Pairs(r)
		iv, err := stats.PairedRatio(native, vm, plan.Level)
		if err != nil {
			return r, err
		}
		r.Ratio = iv
		if progress != nil {
			progress(r)
		}
		if pair+1 >= plan.MinPairs && iv.HalfWidth <= plan.Target && !math.IsNaN(iv.HalfWidth) {
			r.Converged = true
			r.Stop = fmt.Sprintf("reached ±%.1f%% (target ±%.1f%%) after %d pairs", iv.HalfWidth*100, plan.Target*100, pair+1)
			return r, nil
		}
	}
}
