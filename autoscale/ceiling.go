package autoscale

import (
	"fmt"
	"time"
)

// Measurement limits for the throughput ceiling.
const (
	// minCompletions is the fewest completions a rate is trusted on: with
	// fewer, one partition more or less in the window moves the rate by
	// more than MinGain.
	minCompletions = 3
	// maxHoldSettles bounds how long, in settle windows, scale-out waits
	// for a baseline that does not come (partitions longer than the
	// window, or a backlog that keeps emptying); after it the pool grows
	// unmeasured rather than never.
	maxHoldSettles = 3
	// maxProbeSettles bounds the judging window, so a probe at a rate of
	// one partition a minute still ends.
	maxProbeSettles = 4
	// probeTimeoutSettles drops a probe never judged (its backlog kept
	// emptying), so it stops holding scale-out.
	probeTimeoutSettles = 10
)

// throughput finds the throughput ceiling: the size beyond which added
// VMs stopped raising the completion rate. doc.go explains the method.
type throughput struct {
	cfg CeilingPolicy
	// size is Ready+Booting at the previous tick.
	size int
	// steadySince is when the pool last became steady (all VMs ready,
	// none draining, size unchanged); zero while it is not.
	steadySince time.Time
	// run is the current stretch of steady ticks with partitions queued,
	// and Completed at its start; zero since when there is none.
	run struct {
		since time.Time
		done  int64
	}
	// baseline is the latest rate measured over a full run at one size.
	baseline rateAt
	// probe, when set, is a scale-out being measured against baseline.
	probe *probe
	// proven is the largest size measured to raise the rate enough.
	proven int

	ceiling int
	why     string
}

type rateAt struct {
	size int
	rate float64 // partitions/s
	at   time.Time
}

type probe struct {
	from   int
	before float64
	opened time.Time
	need   time.Duration // length of run to judge on
}

func newThroughput(cfg CeilingPolicy) throughput { return throughput{cfg: cfg} }

// observe follows the pool's size, steadiness and completions: it
// measures baselines, opens a probe when the pool grows from a freshly
// measured size, and judges the probe once the grown pool has run for
// its window. prev is the previous tick's time.
func (tp *throughput) observe(s Signals, prev time.Time) {
	if !tp.cfg.Enabled {
		return
	}
	now, cur := s.Time, s.Ready+s.Booting
	settle := tp.cfg.Settle.Duration
	if cur != tp.size {
		fresh := !prev.IsZero() && tp.baseline.size == tp.size && tp.baseline.at.Equal(prev)
		if cur > tp.size && cur > tp.proven && fresh && tp.probe == nil && tp.ceiling == 0 && tp.size > 0 {
			tp.probe = &probe{from: tp.size, before: tp.baseline.rate, opened: now,
				need: judgeSpan(settle, tp.size, s.Slots, tp.baseline.rate)}
		}
		if tp.probe != nil && cur <= tp.probe.from {
			tp.probe = nil // shrank back: nothing left to measure
		}
		tp.size = cur
		tp.steadySince, tp.run.since = time.Time{}, time.Time{}
	}
	if tp.probe != nil && now.Sub(tp.probe.opened) > probeTimeoutSettles*settle {
		tp.probe = nil
	}
	if s.Booting > 0 || s.Draining > 0 || cur == 0 {
		tp.steadySince, tp.run.since = time.Time{}, time.Time{}
		return
	}
	if tp.steadySince.IsZero() {
		tp.steadySince = now
	}
	// Only a backlog that stayed non-empty says the rate is the pool's
	// capacity: when it empties, the rate falls for lack of work.
	if s.Backlog == 0 {
		tp.run.since = time.Time{}
		return
	}
	if tp.run.since.IsZero() {
		tp.run.since, tp.run.done = now, s.Completed
		return
	}
	span := now.Sub(tp.run.since)
	done := s.Completed - tp.run.done
	rate := float64(done) / span.Seconds()
	if tp.probe != nil {
		if span >= tp.probe.need {
			tp.judge(cur, rate, now)
		}
		return
	}
	if span >= settle && done >= minCompletions {
		tp.baseline = rateAt{size: cur, rate: rate, at: now}
	}
}

// judgeSpan is how long the grown pool must run before its rate is
// compared: at least Settle, two partition durations (so the new VMs'
// first partitions, which start mid-window, weigh at most half), and the
// time for minCompletions at the old rate. A partition's duration comes
// from Little's law with every slot busy: n*slots/rate.
func judgeSpan(settle time.Duration, n, slots int, rate float64) time.Duration {
	d := settle
	perPartition := time.Duration(float64(n*max(1, slots)) / rate * float64(time.Second))
	d = max(d, 2*perPartition, time.Duration(minCompletions/rate*float64(time.Second)))
	return min(d, maxProbeSettles*settle)
}

// judge compares the grown pool's rate with the rate before: each of the
// m-n added VMs should add at least MinGain of the per-VM rate before.
func (tp *throughput) judge(m int, after float64, now time.Time) {
	pr := tp.probe
	tp.probe = nil
	n := pr.from
	need := pr.before * (1 + tp.cfg.MinGain*float64(m-n)/float64(n))
	if after >= need {
		tp.proven = max(tp.proven, m)
		tp.baseline = rateAt{size: m, rate: after, at: now}
		return
	}
	tp.ceiling = n
	tp.why = fmt.Sprintf("%d→%d VMs moved the completion rate from %.2f/s to %.2f/s, below the %.2f/s that %.0f%% of the added VMs' fair share would give",
		n, m, pr.before, after, need, tp.cfg.MinGain*100)
}

// limit applies the ceiling to a verdict: clamp to a ceiling found; hold
// scale-out while the host's CPU is saturated and cap it at what the
// spare CPU fits; without that evidence, hold it while a probe is being
// judged and while the current size has no baseline to probe from, and
// cap a probe at half the pool. Sizes up to the largest proven one need
// no measurement. minVMs is the policy's Min, which the ceiling never
// overrides.
func (tp *throughput) limit(v *verdict, s Signals, cur, minVMs int) {
	if !tp.cfg.Enabled {
		return
	}
	if tp.ceiling > 0 && v.n > max(tp.ceiling, minVMs) {
		n := max(tp.ceiling, minVMs)
		v.bind(n, RuleCeiling, "at the throughput ceiling %d: %s", n, tp.why)
		return
	}
	if v.n <= cur || cur == 0 {
		return
	}
	hold := max(cur, minVMs)
	// cpuRoom: the host reports its CPU and it has room for the VMs
	// asked for. Then the CPU question is answered without a probe, and
	// scale-out does not wait for rate measurements; probes still run
	// when the pool grows from a measured size, and still set a ceiling.
	cpuRoom := false
	if hc := tp.cfg.HostCPU; hc > 0 && s.HostCPU > 0 {
		if s.HostCPU >= hc {
			v.bind(hold, RuleCeiling, "host CPU %.0f%% ≥ %.0f%%: another VM would only share the same cores", s.HostCPU*100, hc*100)
			return
		}
		if s.GuestCPU > 0 && s.Ready > 0 {
			// Ready×GuestCPU is how many VMs' worth of guests were busy
			// (GuestCPU is per vCPU, so this holds for any VCPUs);
			// scaled up to the whole host it is how many VMs running
			// flat out the host fits. (From the average VM instead, VMs
			// that idled through the last tick would make a full host
			// look empty.)
			busy := float64(s.Ready) * s.GuestCPU
			fit := int(busy/s.HostCPU + 1e-9)
			if v.n > max(fit, hold) {
				v.bind(max(fit, hold), RuleCeiling, "host CPU %.0f%% with %.1f VMs busy: room for %d VMs", s.HostCPU*100, busy, fit)
			}
			cpuRoom = v.n > cur
		}
	}
	if tp.ceiling > 0 || cpuRoom {
		return
	}
	if pr := tp.probe; pr != nil {
		v.bind(hold, RuleCeiling, "measuring whether %d→%d VMs raised the completion rate (%.2f/s before) over %s", pr.from, cur, pr.before, pr.need)
		return
	}
	if v.n <= tp.proven {
		return
	}
	if tp.proven > cur {
		v.bind(max(tp.proven, hold), RuleCeiling, "to %d, the largest size measured to help, before measuring beyond it", tp.proven)
		return
	}
	if tp.baseline.size == cur && tp.baseline.at.Equal(s.Time) {
		// Measured now: the scale-out will be probed. A probe adds at
		// most half the pool, so that one useful VM in a step cannot vouch
		// for a useless one (1→3 on 2 cores gains 90% of one VM's share
		// overall, though the third VM adds nothing).
		if step := max(1, cur/2); v.n > max(cur+step, hold) {
			v.bind(max(cur+step, hold), RuleCeiling, "probing %d→%d: a probe adds at most half the pool", cur, cur+step)
		}
		return
	}
	settle := tp.cfg.Settle.Duration
	switch {
	case s.Booting > 0:
		v.bind(hold, RuleCeiling, "waiting for %d booting VMs, then %s to measure the completion rate at %d", s.Booting, settle, cur)
	case s.Draining == 0 && !tp.steadySince.IsZero() && s.Time.Sub(tp.steadySince) < maxHoldSettles*settle:
		v.bind(hold, RuleCeiling, "measuring the completion rate at %d VMs before adding more (%s of at least %s)", cur,
			s.Time.Sub(tp.steadySince).Round(time.Millisecond), settle)
	}
	// Otherwise the rate cannot be measured here (draining VMs, too few
	// completions, a backlog that keeps emptying): grow unmeasured.
}
