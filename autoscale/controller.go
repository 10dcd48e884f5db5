package autoscale

import (
	"fmt"
	"strings"
	"time"
)

// Rules a Decision names in its Rule field.
const (
	RuleTolerance = "tolerance"
	RuleWindow    = "window"
	RuleCooldown  = "cooldown"
	RuleMaxStep   = "max-step"
	RuleMin       = "min"
	RuleMax       = "max"
	RuleIdle      = "idle"
	RuleCeiling   = "ceiling"
)

// Controller turns signals into pool sizes. It is a pure function of the
// signals it is given, their timestamps and its own state: it never reads
// the clock, so tests drive it with made-up times. It is not safe for
// concurrent use; a runner calls Decide from its one tick loop.
type Controller struct {
	p Policy
	// start is the first tick's time and prev the last one's.
	start, prev time.Time
	// recs are recent recommendations (after tolerance), oldest first,
	// for the stabilisation windows.
	recs []recommendation
	// lastOut and lastIn are when the last scale-out and scale-in were
	// decided; lastWork is the last tick with partitions queued or running.
	lastOut, lastIn, lastWork time.Time
	tp                        throughput
}

type recommendation struct {
	at time.Time
	n  int
}

// New checks p and returns a controller for it.
func New(p Policy) (*Controller, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("new autoscaler: %w", err)
	}
	p = p.withDefaults()
	return &Controller{p: p, tp: newThroughput(p.Ceiling)}, nil
}

// Policy is the controller's policy with New's defaults filled in.
func (c *Controller) Policy() Policy {
	p := c.p
	p.Steps = append([]Step(nil), c.p.Steps...)
	return p
}

// Ceiling is the throughput ceiling found so far, in VMs, and why; 0 and
// "" while none has been found.
func (c *Controller) Ceiling() (size int, reason string) {
	return c.tp.ceiling, c.tp.why
}

// verdict is the size being decided, the last rule that changed it, and
// a clause per change for the decision's reason.
type verdict struct {
	n    int
	rule string
	why  []string
}

// bind moves the verdict to n on behalf of rule; a rule that would not
// change it leaves no trace.
func (v *verdict) bind(n int, rule, format string, a ...any) {
	if n == v.n {
		return
	}
	v.n, v.rule = n, rule
	v.why = append(v.why, fmt.Sprintf(format, a...))
}

// Decide applies the policy's rules, in order, to one tick's signals:
// the metric's recommendation, tolerance, stabilisation windows,
// cooldowns, max step, min/max, idle scale-to-zero and the throughput
// ceiling. The Decision names the last rule that changed the size.
func (c *Controller) Decide(s Signals) Decision {
	now := s.Time
	if c.start.IsZero() {
		c.start = now
	}
	cur := s.Ready + s.Booting
	if s.Backlog+s.InFlight > 0 {
		c.lastWork = now
	}
	c.tp.observe(s, c.prev)

	raw, ratio, tracked, why := c.recommend(s, cur)
	v := verdict{n: raw, why: []string{why}}
	if tracked && cur > 0 && raw != cur && abs(ratio-1) <= c.p.Tolerance {
		v.bind(cur, RuleTolerance, "within tolerance %.2f of target (ratio %.2f) → %d", c.p.Tolerance, ratio, cur)
	}
	c.stabilize(&v, now, cur)
	c.cooldown(&v, now, cur)
	c.maxStep(&v, cur)
	c.clamp(&v)
	c.idle(&v, s, cur)
	c.tp.limit(&v, s, cur, c.p.Min)

	d := Decision{Time: now, Current: cur, Raw: raw, Desired: v.n, Action: ActionNone,
		Rule: v.rule, Reason: strings.Join(v.why, ", "), Signals: s, Verdict: c.tp.verdict}
	c.tp.verdict = nil
	switch {
	case v.n > cur:
		d.Action = ActionScaleOut
		c.lastOut = now
	case v.n < cur:
		d.Action = ActionScaleIn
		c.lastIn = now
	}
	c.prev = now
	return d
}

// stabilize records the recommendation and applies the HPA's windows:
// scale up to the lowest recommendation over ScaleUpWindow, down to the
// highest over ScaleDownWindow. Beyond the HPA, a scale-in needs the
// down window to be covered by observations made since the last
// scale-in (or since the start): the older ones described a bigger pool,
// and this keeps scale-ins at most one per window.
func (c *Controller) stabilize(v *verdict, now time.Time, cur int) {
	upW, downW := c.p.ScaleUpWindow.Duration, c.p.ScaleDownWindow.Duration
	up, down := v.n, v.n
	for _, r := range c.recs {
		if now.Sub(r.at) < upW {
			up = min(up, r.n)
		}
		if now.Sub(r.at) < downW {
			down = max(down, r.n)
		}
	}
	c.remember(now, v.n, max(upW, downW))

	n := max(cur, up)
	n = min(n, down)
	switch {
	case n > v.n:
		v.bind(n, RuleWindow, "held at %d by the highest recommendation (%d) over the %s scale-down window", n, down, downW)
	case n < v.n:
		v.bind(n, RuleWindow, "held at %d by the lowest recommendation (%d) over the %s scale-up window", n, up, upW)
	}
	if v.n >= cur || downW == 0 {
		return
	}
	from, what := c.start, "the first tick"
	if c.lastIn.After(from) {
		from, what = c.lastIn, "the last scale-in"
	}
	if seen := now.Sub(from); seen < downW {
		v.bind(cur, RuleWindow, "no scale-in until the %s scale-down window has passed since %s (%s ago)", downW, what, seen.Round(time.Millisecond))
	}
}

// remember appends a recommendation and drops those older than keep.
func (c *Controller) remember(now time.Time, n int, keep time.Duration) {
	i := 0
	for i < len(c.recs) && now.Sub(c.recs[i].at) >= keep {
		i++
	}
	if i > 0 {
		c.recs = append(c.recs[:0], c.recs[i:]...)
	}
	if keep > 0 {
		c.recs = append(c.recs, recommendation{now, n})
	}
}

// cooldown blocks any action for CooldownOut after a scale-out, and
// another scale-in for CooldownIn after a scale-in. An empty pool with
// work is never held: nothing it could wait for is coming.
func (c *Controller) cooldown(v *verdict, now time.Time, cur int) {
	out, in := c.p.CooldownOut.Duration, c.p.CooldownIn.Duration
	switch {
	case v.n > cur && cur > 0 && within(now, c.lastOut, out):
		v.bind(cur, RuleCooldown, "cooldown: %s left of %s after the last scale-out", left(now, c.lastOut, out), out)
	case v.n < cur && within(now, c.lastOut, out):
		v.bind(cur, RuleCooldown, "cooldown: %s left of %s after the last scale-out", left(now, c.lastOut, out), out)
	case v.n < cur && within(now, c.lastIn, in):
		v.bind(cur, RuleCooldown, "cooldown: %s left of %s after the last scale-in", left(now, c.lastIn, in), in)
	}
}

func (c *Controller) maxStep(v *verdict, cur int) {
	if up := c.p.MaxStepUp; up > 0 && v.n > cur+up {
		v.bind(cur+up, RuleMaxStep, "capped by max step %d up → %d", up, cur+up)
	}
	if down := c.p.MaxStepDown; down > 0 && v.n < cur-down {
		v.bind(cur-down, RuleMaxStep, "capped by max step %d down → %d", down, cur-down)
	}
}

func (c *Controller) clamp(v *verdict) {
	if v.n > c.p.Max {
		v.bind(c.p.Max, RuleMax, "capped by max %d", c.p.Max)
	}
	if v.n < c.p.Min {
		v.bind(c.p.Min, RuleMin, "raised to min %d", c.p.Min)
	}
}

// idle keeps a VM while there is work, and with Min 0 scales to zero
// once the pool has had no work for IdleTimeout. Scale to zero skips the
// window, cooldown and step rules: IdleTimeout of no work at all is
// stronger evidence than any of them waits for, and removing VMs one at
// a time from an idle pool only wastes VM-seconds.
func (c *Controller) idle(v *verdict, s Signals, cur int) {
	if work := s.Backlog + s.InFlight; work > 0 {
		if v.n == 0 {
			v.bind(1, RuleMin, "%d partitions left: at least 1 VM", work)
		}
		return
	}
	if c.p.Min > 0 {
		return
	}
	last := c.lastWork
	if last.IsZero() {
		last = c.start
	}
	timeout := c.p.IdleTimeout.Duration
	idle := s.Time.Sub(last)
	switch {
	case idle >= timeout:
		v.bind(0, RuleIdle, "no work for %s (idle timeout %s) → 0", idle.Round(time.Millisecond), timeout)
	case v.n == 0 && cur > 0:
		v.bind(1, RuleIdle, "no work for %s of the %s idle timeout: keeping 1 VM", idle.Round(time.Millisecond), timeout)
	}
}

// within reports whether now is less than d after t (a zero t never is).
func within(now, t time.Time, d time.Duration) bool {
	return !t.IsZero() && now.Sub(t) < d
}

func left(now, t time.Time, d time.Duration) time.Duration {
	return (d - now.Sub(t)).Round(time.Millisecond)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
