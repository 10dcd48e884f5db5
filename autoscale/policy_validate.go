package autoscale

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidPolicy is wrapped by every error Validate and New return.
var ErrInvalidPolicy = errors.New("invalid autoscale policy")

// PolicyError is one problem with a policy, named by the field's YAML
// path (e.g. "ceiling.min_gain" or "steps[1].upper"). It wraps
// ErrInvalidPolicy.
type PolicyError struct {
	Field string
	Msg   string // what is wrong and how to fix it
}

func (e *PolicyError) Error() string { return e.Field + ": " + e.Msg }

func (e *PolicyError) Unwrap() error { return ErrInvalidPolicy }

// Validate reports every problem at once, joined; nil when there are none.
func (p *Policy) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, &PolicyError{Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if p.Max < 1 {
		bad("max", "must be at least 1 VM (got %d)", p.Max)
	}
	if p.Min < 0 || p.Min > max(p.Max, 0) {
		bad("min", "must be between 0 and max (%d) (got %d): lower min or raise max", p.Max, p.Min)
	}
	switch p.Metric {
	case "", MetricBacklog:
		if p.Target < 0 || math.IsNaN(p.Target) {
			bad("target", "must be positive partitions per VM, or 0 for slots (got %g)", p.Target)
		}
	case MetricBusy, MetricCPU:
		if !(p.Target >= 0 && p.Target <= 1) {
			bad("target", "must be a fraction in (0, 1] for metric %s, or 0 for %g (got %g)", p.Metric, DefaultBusyTarget, p.Target)
		}
	default:
		bad("metric", "%q is not a metric: use %s, %s or %s", p.Metric, MetricBacklog, MetricBusy, MetricCPU)
	}
	if !(p.Tolerance >= 0 && p.Tolerance < 1) {
		bad("tolerance", "must be a fraction in [0, 1) (got %g); %g is the usual", p.Tolerance, DefaultTolerance)
	}
	for i, s := range p.Steps {
		f := fmt.Sprintf("steps[%d]", i)
		switch {
		case s.Lower < 0 || math.IsNaN(s.Lower):
			bad(f+".lower", "must be a metric/target ratio >= 0 (got %g)", s.Lower)
		case s.Upper != 0 && !(s.Upper > s.Lower):
			bad(f+".upper", "must be above lower (%g), or 0 for no upper bound (got %g)", s.Lower, s.Upper)
		}
		for j, o := range p.Steps[:i] {
			if stepsOverlap(s, o) {
				bad(f, "[%g, %s) overlaps steps[%d] [%g, %s): a ratio must select one step", s.Lower, upperText(s.Upper), j, o.Lower, upperText(o.Upper))
			}
		}
	}
	durations := []struct {
		field string
		d     time.Duration
	}{
		{"scale_up_window", p.ScaleUpWindow.Duration},
		{"scale_down_window", p.ScaleDownWindow.Duration},
		{"cooldown_out", p.CooldownOut.Duration},
		{"cooldown_in", p.CooldownIn.Duration},
		{"idle_timeout", p.IdleTimeout.Duration},
		{"sync", p.Sync.Duration},
		{"ceiling.settle", p.Ceiling.Settle.Duration},
		{"ceiling.expire", p.Ceiling.Expire.Duration},
	}
	for _, d := range durations {
		if d.d < 0 {
			bad(d.field, "must not be negative (got %s)", d.d)
		}
	}
	// A tick shorter than this decides on counts that have not changed
	// since the last one, and reads libvirt's CPU times too often.
	if s := p.Sync.Duration; s > 0 && s < 100*time.Millisecond {
		bad("sync", "must be at least 100ms, or 0 for %s (got %s)", DefaultSync, s)
	}
	if p.MaxStepUp < 0 {
		bad("max_step_up", "must be >= 0 VMs, 0 for no bound (got %d)", p.MaxStepUp)
	}
	if p.MaxStepDown < 0 {
		bad("max_step_down", "must be >= 0 VMs, 0 for no bound (got %d)", p.MaxStepDown)
	}
	if !(p.Ceiling.MinGain >= 0 && p.Ceiling.MinGain <= 1) {
		bad("ceiling.min_gain", "must be a fraction of an added VM's fair share in [0, 1] (got %g); %g is the usual", p.Ceiling.MinGain, DefaultMinGain)
	}
	if !(p.Ceiling.HostCPU >= 0 && p.Ceiling.HostCPU <= 1) {
		bad("ceiling.host_cpu", "must be a utilisation in [0, 1], 0 to disable (got %g)", p.Ceiling.HostCPU)
	}
	if c := p.Ceiling.Confidence; !(c == 0 || (c >= 0.5 && c < 1)) {
		bad("ceiling.confidence", "must be a confidence level in [0.5, 1), or 0 for %g (got %g)", DefaultConfidence, c)
	}
	if l := p.Ceiling.LoadChange; !(l >= 0) || math.IsInf(l, 1) {
		bad("ceiling.load_change", "must be >= 0 cores, 0 to disable (got %g)", l)
	}
	if p.Warm < 0 || (p.Max >= 1 && p.Warm > p.Max) {
		bad("warm", "must be between 0 and max (%d) paused VMs (got %d)", p.Max, p.Warm)
	}
	return errors.Join(errs...)
}

func stepsOverlap(a, b Step) bool {
	au, bu := upperBound(a.Upper), upperBound(b.Upper)
	return a.Lower < bu && b.Lower < au
}

// upperBound reads a Step's Upper, where 0 stands for no bound.
func upperBound(u float64) float64 {
	if u == 0 {
		return math.Inf(1)
	}
	return u
}

func upperText(u float64) string {
	if u == 0 {
		return "∞"
	}
	return fmt.Sprintf("%g", u)
}
