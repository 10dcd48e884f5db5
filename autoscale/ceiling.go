package autoscale

import (
	"fmt"
	"math"
	"time"

	"github.com/vmctl/vmctl/stats"
)

// Measurement limits for the throughput ceiling (doc.go explains them).
const (
	// minBlocks is the fewest measurement blocks a side of a comparison
	// needs before it is judged: with two the interval is very wide, and
	// three keep a probe short when the answer is clear.
	minBlocks = 3
	// blockCompletions is the fewest completions in a block when only the
	// completion rate measures throughput (no guest CPU): a block of one
	// or none says little about a rate.
	blockCompletions = 2
	// maxHoldSettles bounds how long, in settle windows, scale-out waits
	// for a baseline that does not come (partitions longer than the
	// window, or a backlog that keeps emptying); after it the pool grows
	// unmeasured rather than never.
	maxHoldSettles = 3
	// maxProbeSettles bounds a probe: an inconclusive one ends after this
	// many settle windows of steady measurement, and the pool keeps its
	// new size (a false ceiling is worse than none).
	maxProbeSettles = 4
	// probeTimeoutSettles drops a probe that never got its measurement
	// (its backlog kept emptying), so it stops holding scale-out.
	probeTimeoutSettles = 10
)

// throughput finds the throughput ceiling: the size beyond which added
// VMs stop raising the pool's throughput. doc.go explains the method.
type throughput struct {
	cfg CeilingPolicy
	// size is Ready+Booting at the previous tick; prevBoots and
	// prevDone the previous tick's Boots and Completed.
	size      int
	prevBoots int64
	prevDone  int64
	// cpu: the signals carry guest CPU, so throughput is measured as
	// guest CPU delivered; otherwise as the completion rate.
	cpu bool
	// steadySince is when the current steady stretch began (zero while
	// the pool is not steady); block accumulates the stretch's current
	// measurement block; stretch holds the stretch's finished blocks.
	steadySince time.Time
	block       block
	stretch     []float64
	stretchSpan time.Duration
	// baseline is the last stretch measured at baseline.size that was
	// long enough (measured reports whether there is one).
	baseline struct {
		size    int
		samples []float64
		at      time.Time
	}
	probe  *probe
	proven int
	// prior is the last steady tick's reading of the host, for the prior.
	prior hostReading
	// The ceiling, when found: its size, when, why, and the load from
	// outside the pool then.
	ceiling   int
	found     time.Time
	foundLoad float64
	why       string
	// note is something the next decision should say (a probe judged,
	// a ceiling lifted); verdict the probe judged, for that decision.
	note    string
	verdict *Verdict
}

// block is one measurement: guest CPU core-seconds (or completions) over
// a steady span.
type block struct {
	span  time.Duration
	work  float64 // core-seconds of guest CPU
	done  int64
	start time.Time
}

// hostReading is what the host prior needs, from a steady tick.
type hostReading struct {
	ok        bool
	cpus      int
	vcpus     int
	poolCores float64 // guest CPU the pool's VMs used, in cores
	other     float64 // host CPU in use outside the pool, in cores
	ready     int
}

type probe struct {
	from, to      int
	before, after []float64
	opened        time.Time
	// measured is how long the grown pool has been measured steady, over
	// however many stretches.
	measured time.Duration
	unit     string
}

func newThroughput(cfg CeilingPolicy) throughput { return throughput{cfg: cfg} }

// unit names what the blocks measure.
func (tp *throughput) unit() string {
	if tp.cpu {
		return "cores"
	}
	return "partitions/s"
}

// observe follows the pool: it measures throughput in blocks over steady
// stretches (same size, nothing booting or draining anywhere on the host
// side of the pool, partitions queued throughout), opens a probe when the
// pool grows from a measured size, and judges the probe once the grown
// pool has been measured. prev is the previous tick's time.
func (tp *throughput) observe(s Signals, prev time.Time) {
	if !tp.cfg.Enabled {
		return
	}
	now, cur := s.Time, s.Ready+s.Booting
	if s.GuestCPU > 0 {
		tp.cpu = true
	}
	boots, done := tp.prevBoots, tp.prevDone
	tp.prevBoots, tp.prevDone = s.Boots, s.Completed
	if cur != tp.size {
		tp.resize(cur, now)
	}
	if tp.probe != nil && now.Sub(tp.probe.opened) > probeTimeoutSettles*tp.cfg.Settle.Duration {
		tp.note = fmt.Sprintf("probe %d→%d dropped: no steady measurement in %s", tp.probe.from, tp.probe.to, probeTimeoutSettles*tp.cfg.Settle.Duration)
		tp.probe = nil
	}
	// A boot anywhere in the pool or its warm pool takes host CPU from the
	// running VMs, a drain leaves slots idle, an empty queue leaves VMs
	// idle: none of that is the pool's capacity.
	steady := s.Booting == 0 && s.WarmBooting == 0 && s.Draining == 0 && s.Boots == boots && cur > 0 && s.Backlog > 0
	if !steady {
		tp.endStretch()
		return
	}
	if r := reading(s); r.ok {
		tp.prior = r
	}
	if tp.steadySince.IsZero() || prev.IsZero() {
		// The span since the last tick was not all steady: start here.
		tp.steadySince = now
		tp.block = block{start: now}
		return
	}
	dt := now.Sub(prev)
	tp.block.span += dt
	tp.block.work += float64(s.Ready) * s.GuestCPU * float64(max(1, s.VCPUs)) * dt.Seconds()
	tp.block.done += s.Completed - done
	if tp.block.span >= tp.blockSpan() && (tp.cpu || tp.block.done >= blockCompletions) {
		if v := tp.block.value(tp.cpu); v > 0 {
			tp.stretch = append(tp.stretch, v)
			tp.stretchSpan += tp.block.span
			if pr := tp.probe; pr != nil {
				pr.after = append(pr.after, v)
				pr.measured += tp.block.span
			}
		}
		tp.block = block{start: now}
	}
	if pr := tp.probe; pr != nil && len(pr.after) >= minBlocks {
		tp.judge(now)
	}
}

// blockSpan is one block's length: a fifth of Settle, so a settle window
// holds five blocks.
func (tp *throughput) blockSpan() time.Duration { return tp.cfg.Settle.Duration / 5 }

func (b block) value(cpu bool) float64 {
	if b.span <= 0 {
		return 0
	}
	if cpu {
		return b.work / b.span.Seconds()
	}
	return float64(b.done) / b.span.Seconds()
}

// endStretch closes the steady stretch; its blocks become the baseline
// of its size.
func (tp *throughput) endStretch() {
	if tp.measuredNow() {
		tp.baseline.size, tp.baseline.samples, tp.baseline.at = tp.size, tp.stretch, tp.steadySince
	}
	tp.steadySince, tp.stretch, tp.stretchSpan, tp.block = time.Time{}, nil, 0, block{}
}

// measuredNow reports whether the current stretch is a baseline: at least
// minBlocks blocks (the interval says how much they are worth).
func (tp *throughput) measuredNow() bool {
	return len(tp.stretch) >= minBlocks
}

// measured reports whether size cur has a baseline to probe from.
func (tp *throughput) measured(cur int) bool {
	return tp.measuredNow() || tp.baseline.size == cur && len(tp.baseline.samples) >= minBlocks
}

// resize follows a size change: growth from a measured size opens a
// probe; shrinking back to where a probe started drops it.
func (tp *throughput) resize(cur int, now time.Time) {
	tp.endStretch()
	if pr := tp.probe; pr != nil && cur <= pr.from {
		tp.probe = nil // shrank back: nothing left to measure
	}
	if pr := tp.probe; pr != nil && cur != pr.to {
		// Grew or shrank during the probe: what was measured at the old
		// size says nothing of the new one.
		pr.to, pr.after, pr.measured = cur, nil, 0
	}
	if cur > tp.size && tp.probe == nil && tp.ceiling == 0 && tp.size > 0 && cur > tp.proven &&
		tp.baseline.size == tp.size && len(tp.baseline.samples) >= minBlocks {
		tp.probe = &probe{from: tp.size, to: cur, before: tp.baseline.samples, opened: now, unit: tp.unit()}
	}
	tp.size = cur
}

// judge compares the grown pool's blocks with the baseline's: Welch's
// interval of after/before at the policy's confidence. Each of the m-n
// added VMs should add MinGain of the per-VM throughput before:
//
//	need = 1 + MinGain × (m-n)/n
//
// A ceiling needs the whole interval below need; the whole interval at
// need or above keeps the new size. Otherwise the probe goes on, up to
// maxProbeSettles, after which the pool keeps its size undecided. Clear
// answers come after minBlocks blocks; noisy ones wait for more.
func (tp *throughput) judge(now time.Time) {
	pr := tp.probe
	n, m := pr.from, pr.to
	need := 1 + tp.cfg.MinGain*float64(m-n)/float64(n)
	iv, err := stats.RatioOfMeans(pr.before, pr.after, tp.cfg.Confidence)
	if err != nil {
		tp.probe = nil
		tp.note = fmt.Sprintf("probe %d→%d not judged: %v", n, m, err)
		return
	}
	bmean, amean := mean(pr.before), mean(pr.after)
	side := func(v []float64) string {
		mi, err := stats.MeanInterval(v, tp.cfg.Confidence)
		if err != nil || math.IsInf(mi.High, 1) {
			return num(mean(v))
		}
		return fmt.Sprintf("%s [%.2f–%.2f]", num(mi.Estimate), mi.Low, mi.High)
	}
	v := &Verdict{From: n, To: m, Before: bmean, After: amean, Unit: pr.unit, Gain: iv.Estimate, Low: iv.Low, High: iv.High,
		Level: tp.cfg.Confidence, Need: need}
	text := fmt.Sprintf("%d→%d VMs: %s → %s %s, gain ×%.2f (%.0f%% interval %.2f–%.2f, %d+%d blocks) against the ×%.2f that %.0f%% of the added VMs' fair share needs",
		n, m, side(pr.before), side(pr.after), pr.unit, iv.Estimate, tp.cfg.Confidence*100, iv.Low, orNaN(iv.High), len(pr.before), len(pr.after), need, tp.cfg.MinGain*100)
	switch {
	case iv.High < need:
		tp.probe = nil
		tp.ceiling, tp.found, tp.why = n, now, text
		tp.foundLoad = tp.prior.other
		tp.note = "ceiling: " + text
		v.Outcome = "ceiling"
		tp.verdict = v
	case iv.Low >= need:
		tp.probe = nil
		tp.proven = max(tp.proven, m)
		tp.note = "probe kept the new size: " + text
		v.Outcome = "kept"
		tp.verdict = v
	case pr.measured >= maxProbeSettles*tp.cfg.Settle.Duration:
		tp.probe = nil
		tp.proven = max(tp.proven, m)
		tp.note = "probe inconclusive after " + pr.measured.Round(time.Second).String() + ", keeping the new size: " + text
		v.Outcome = "inconclusive"
		tp.verdict = v
	}
	// Otherwise: not yet decided; the next blocks extend the probe.
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(max(1, len(v)))
}

func num(x float64) string { return fmt.Sprintf("%.2f", x) }

func orNaN(x float64) float64 {
	if math.IsInf(x, 0) {
		return math.NaN()
	}
	return x
}

// reading takes what the host prior needs from a steady tick.
func reading(s Signals) hostReading {
	if s.HostCPUs <= 0 || s.HostCPU <= 0 {
		return hostReading{}
	}
	vcpus := max(1, s.VCPUs)
	pool := float64(s.Ready) * s.GuestCPU * float64(vcpus)
	host := s.HostCPU * float64(s.HostCPUs)
	return hostReading{ok: true, cpus: s.HostCPUs, vcpus: vcpus, poolCores: pool, other: max(0, host-pool), ready: s.Ready}
}

// predicted is what the prior expects k busy VMs to deliver, in cores:
// each at most its vCPUs, together at most the share of the host the
// policy allows less what others use.
func (h hostReading) predicted(k int, share float64) float64 {
	room := max(0, share*float64(h.cpus)-h.other)
	return min(float64(k*h.vcpus), room)
}

// expire lifts a ceiling that is too old, or whose host changed.
func (tp *throughput) expire(now time.Time) {
	if tp.ceiling == 0 {
		return
	}
	switch {
	case tp.cfg.Expire.Duration > 0 && now.Sub(tp.found) >= tp.cfg.Expire.Duration:
		tp.note = fmt.Sprintf("ceiling %d lifted after %s: probing again", tp.ceiling, tp.cfg.Expire.Duration)
	case tp.cfg.LoadChange > 0 && tp.prior.ok && math.Abs(tp.prior.other-tp.foundLoad) >= tp.cfg.LoadChange:
		tp.note = fmt.Sprintf("ceiling %d lifted: the host's other load moved from %.1f to %.1f cores: probing again",
			tp.ceiling, tp.foundLoad, tp.prior.other)
	default:
		return
	}
	tp.ceiling, tp.why, tp.proven = 0, "", 0
}

// limit applies the ceiling to a verdict: clamp to a ceiling found; let
// the host prior cap growth at what the spare CPU can use; without the
// prior's word for room, hold while a probe is judged and while the
// current size has no baseline, and cap a probe at half the pool. Sizes up
// to the largest proven one need no measurement. minVMs is the policy's
// Min, which the ceiling never overrides.
func (tp *throughput) limit(v *verdict, s Signals, cur, minVMs int) {
	if !tp.cfg.Enabled {
		return
	}
	tp.expire(s.Time)
	if note := tp.note; note != "" {
		tp.note = ""
		v.why = append(v.why, note)
		if v.rule == "" {
			v.rule = RuleCeiling
		}
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
	room := false
	if h := tp.prior; tp.cfg.HostCPU > 0 && h.ok {
		// The prior: grow while each added VM is predicted to add MinGain
		// of its fair share. No predicted gain at all stops it too: with no
		// room left (a host busy outside the pool), every size predicts 0.
		k := cur
		for k < v.n {
			have, next := h.predicted(max(k, 1), tp.cfg.HostCPU), h.predicted(k+1, tp.cfg.HostCPU)
			if k > 0 && next <= have*(1+tp.cfg.MinGain/float64(k)) {
				break
			}
			k++
		}
		if k <= hold {
			v.bind(hold, RuleCeiling, "host prior: %d CPUs × %.0f%%, %.1f cores used outside the pool: %d VMs can use %.1f cores, %d would add under %.0f%% of a VM's share",
				h.cpus, tp.cfg.HostCPU*100, h.other, cur, h.predicted(max(cur, 1), tp.cfg.HostCPU), cur+1, tp.cfg.MinGain*100)
			return
		}
		if v.n > k {
			v.bind(k, RuleCeiling, "host prior: room for %d VMs (%d CPUs × %.0f%%, %.1f cores used outside the pool)", k, h.cpus, tp.cfg.HostCPU*100, h.other)
		}
		room = true
	}
	if pr := tp.probe; pr != nil {
		v.bind(hold, RuleCeiling, "measuring whether %d→%d VMs raised throughput (%s %s before); %s of steady measurement so far",
			pr.from, pr.to, num(mean(pr.before)), pr.unit, pr.measured.Round(time.Second))
		return
	}
	if v.n <= tp.proven || room {
		// Proven, or predicted by the host: no measurement needed first.
		// A probe still opens if the current size was measured.
		return
	}
	if tp.proven > cur {
		v.bind(max(tp.proven, hold), RuleCeiling, "to %d, the largest size measured to help, before measuring beyond it", tp.proven)
		return
	}
	if tp.measured(cur) {
		// Measured: the scale-out will be probed. A probe adds at most
		// half the pool, so that one useful VM in a step cannot vouch for
		// a useless one.
		if step := max(1, cur/2); v.n > max(cur+step, hold) {
			v.bind(max(cur+step, hold), RuleCeiling, "probing %d→%d: a probe adds at most half the pool", cur, cur+step)
		}
		return
	}
	settle := tp.cfg.Settle.Duration
	switch {
	case s.Booting > 0 || s.WarmBooting > 0:
		v.bind(hold, RuleCeiling, "waiting for %d booting VMs, then %s to measure throughput at %d", s.Booting+s.WarmBooting, settle, cur)
	case s.Draining == 0 && !tp.steadySince.IsZero() && s.Time.Sub(tp.steadySince) < maxHoldSettles*settle:
		v.bind(hold, RuleCeiling, "measuring throughput at %d VMs before adding more (%s of at least %s)", cur,
			s.Time.Sub(tp.steadySince).Round(time.Millisecond), settle)
	}
	// Otherwise throughput cannot be measured here (draining VMs, too
	// few completions, a backlog that keeps emptying): grow unmeasured.
}
