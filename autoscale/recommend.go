package autoscale

import (
	"fmt"
	"math"
)

// recommend is the size the metric alone asks for (Decision.Raw), with
// the metric/target ratio, whether it came from target tracking (the only
// mode tolerance applies to), and a sentence with the numbers.
func (c *Controller) recommend(s Signals, cur int) (raw int, ratio float64, tracked bool, why string) {
	p := &c.p
	target := p.target(s)
	work := s.Backlog + s.InFlight
	if cur == 0 {
		if work == 0 {
			return 0, 0, false, "no work and no VMs → 0"
		}
		// With no VM there is no utilisation to track; the partitions
		// waiting are the only measure of demand, and for busy and cpu a
		// VM's share of them is its slots.
		per, unit := target, "target"
		if p.Metric != MetricBacklog {
			per, unit = float64(max(1, s.Slots)), "slots"
		}
		raw = max(1, ceilInt(float64(work)/per))
		return raw, 0, false, fmt.Sprintf("%d partitions waiting and no VMs, %s %.1f/VM → %d", work, unit, per, raw)
	}

	// base is the VMs the metric describes: all of them for the backlog,
	// which counts booting VMs as capacity already on its way; only the
	// ready ones for busy and cpu, which booting VMs do not report.
	var value float64
	var desc string
	base := cur
	switch p.Metric {
	case MetricBusy, MetricCPU:
		base = s.Ready
		if base == 0 {
			return cur, 0, false, fmt.Sprintf("all %d VMs booting, no %s reading yet → %d", cur, p.Metric, cur)
		}
		value = s.BusyRatio
		name := "busy"
		if p.Metric == MetricCPU {
			value, name = s.GuestCPU, "guest CPU"
		}
		desc = fmt.Sprintf("%s %.2f over %d ready VMs vs target %.2f", name, value, base, target)
	default:
		value = float64(work) / float64(cur)
		desc = fmt.Sprintf("backlog %d + in flight %d over %d VMs = %.1f/VM vs target %.1f", s.Backlog, s.InFlight, cur, value, target)
	}
	ratio = value / target

	if len(p.Steps) > 0 {
		st, ok := stepFor(p.Steps, ratio)
		if !ok {
			return cur, ratio, false, fmt.Sprintf("%s, ratio %.2f in no step → %d", desc, ratio, cur)
		}
		raw = max(0, cur+st.Adjust)
		why = fmt.Sprintf("%s, ratio %.2f in step [%g, %s) → %+d → %d", desc, ratio, st.Lower, upperText(st.Upper), st.Adjust, raw)
	} else {
		raw = ceilInt(float64(base) * ratio)
		why = fmt.Sprintf("%s → %d", desc, raw)
		tracked = true
	}
	// Booting VMs have not yet had a chance to take work, so a low
	// reading from the ready ones is no reason to cancel them (the HPA
	// likewise counts unready pods as idle only when scaling up).
	if s.Booting > 0 && base < cur && raw < cur {
		raw = cur
		why += fmt.Sprintf("; %d VMs still booting → %d", s.Booting, cur)
	}
	return raw, ratio, tracked, why
}

func stepFor(steps []Step, ratio float64) (Step, bool) {
	for _, st := range steps {
		if ratio >= st.Lower && ratio < upperBound(st.Upper) {
			return st, true
		}
	}
	return Step{}, false
}

// ceilInt rounds up, forgiving float error just above an integer (3 ×
// 0.7/0.7 must be 3, not 4).
func ceilInt(x float64) int {
	return int(math.Ceil(x - 1e-9))
}
