package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/sirupsen/logrus"

	"github.com/vmctl/vmctl/autoscale"
)

// scaler samples the pool's signals every tick, feeds the timeline and
// metrics, and, for an autoscaled pool, acts on the controller's decision.
type scaler struct {
	r    *Runner
	p    *pool
	q    *queue
	ctrl *autoscale.Controller // nil: fixed pool
	tick time.Duration
	host hostCPU
	// rate is a short history of (time, completed) for the displayed
	// completion rate.
	rate []ratePoint
	// lastCeiling is the ceiling already reported; lastHold the last
	// hold reason logged at info (without its numbers).
	lastCeiling int
	lastHold    string
}

type ratePoint struct {
	at   time.Time
	done int64
}

// rateWindow is how far back the displayed completion rate looks.
const rateWindow = 10 * time.Second

func (r *Runner) newScaler(p *pool, q *queue) (*scaler, error) {
	sc := &scaler{r: r, p: p, q: q, tick: time.Second}
	if pol := r.Spec.Pool.Autoscale; pol != nil {
		c, err := autoscale.New(*pol)
		if err != nil {
			return nil, err
		}
		sc.ctrl = c
		sc.tick = c.Policy().Sync.Duration
	}
	return sc, nil
}

func (sc *scaler) autoscaled() bool { return sc.ctrl != nil }

// initialSize is the fixed pool's size; an autoscaled pool starts at its
// minimum (at least one VM when there is work) and grows from measurements.
func (sc *scaler) initialSize(tasks int) int {
	if sc.ctrl == nil {
		return min(sc.r.Spec.Pool.Size, tasks)
	}
	return max(sc.ctrl.Policy().Min, min(1, tasks))
}

func (r *Runner) warmSize() int {
	if pol := r.Spec.Pool.Autoscale; pol != nil {
		return pol.Warm
	}
	return 0
}

func (sc *scaler) loop(ctx context.Context) {
	t := time.NewTicker(sc.tick)
	defer t.Stop()
	for {
		sc.step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// step is one tick: measure, record, decide, act.
func (sc *scaler) step(ctx context.Context) {
	s := sc.signals(ctx)
	if sc.r.Timeline != nil {
		sc.r.Timeline.Sample(s)
	}
	if sc.r.Metrics != nil {
		sc.r.Metrics.Observe(s)
	}
	if s.Backlog > 0 {
		sc.r.mu.Lock()
		if sc.r.backlogTicks == nil {
			sc.r.backlogTicks = map[int]int{}
		}
		sc.r.backlogTicks[s.Ready]++
		sc.r.mu.Unlock()
	}
	if sc.ctrl == nil {
		return
	}
	d := sc.ctrl.Decide(s)
	sc.r.mu.Lock()
	sc.r.decisions = append(sc.r.decisions, d)
	sc.r.mu.Unlock()
	if sc.r.Timeline != nil {
		sc.r.Timeline.Decision(d)
	}
	if sc.r.Metrics != nil {
		sc.r.Metrics.ObserveDecision(d)
	}
	n, why := sc.ctrl.Ceiling()
	if n == 0 && sc.lastCeiling > 0 && sc.r.Metrics != nil {
		sc.r.Metrics.SetCeiling(0) // lifted
	}
	if n > 0 && n != sc.lastCeiling {
		sc.r.mu.Lock()
		sc.r.ceiling = why
		sc.r.ceilings = append(sc.r.ceilings, n)
		sc.r.mu.Unlock()
		sc.r.Log.WithField("ceiling", n).Info("throughput ceiling: " + why)
		if sc.r.Timeline != nil && d.Verdict == nil {
			sc.r.Timeline.Note(s.Time, fmt.Sprintf("ceiling %d VMs", n))
		}
		if sc.r.Metrics != nil {
			sc.r.Metrics.SetCeiling(n)
		}
	}
	sc.lastCeiling = n
	fields := logrus.Fields{"current": d.Current, "desired": d.Desired, "backlog": s.Backlog, "in_flight": s.InFlight,
		"ready": s.Ready, "booting": s.Booting, "busy": fmt.Sprintf("%.2f", s.BusyRatio), "rate": fmt.Sprintf("%.2f/s", s.CompletionRate),
		"guest_cpu": fmt.Sprintf("%.2f", s.GuestCPU), "host_cpu": fmt.Sprintf("%.2f", s.HostCPU)}
	switch d.Action {
	case autoscale.ActionScaleOut:
		if until := sc.p.scaleOutHeld(s.Time); !until.IsZero() {
			sc.r.Log.WithFields(fields).WithField("until", until.Format(time.TimeOnly)).Warn("scale out held: " + sc.p.holdReason())
			sc.count("held: failed starts")
			break
		}
		sc.r.Log.WithFields(fields).Info("scale out: " + d.Reason)
		sc.count("scale out")
		sc.p.add(d.Desired - d.Current)
	case autoscale.ActionScaleIn:
		sc.r.Log.WithFields(fields).Info("scale in: " + d.Reason)
		sc.count("scale in")
		sc.p.logDrained(sc.p.drain(d.Current-d.Desired), d.Reason)
	default:
		// A hold is logged at info when its reason changes (not every
		// tick): the log then tells why the pool did not grow or shrink.
		key := "hold"
		if d.Rule != "" {
			key = "hold: " + d.Rule
		} else if d.Raw == d.Current {
			key = "hold: on target"
		}
		sc.count(key)
		if clause := holdClause(d.Reason); clause != sc.lastHold {
			sc.lastHold = clause
			sc.r.Log.WithFields(fields).Info("hold: " + d.Reason)
		} else {
			sc.r.Log.WithFields(fields).Debug("hold: " + d.Reason)
		}
	}
	if v := d.Verdict; v != nil && sc.r.Timeline != nil {
		sc.r.Timeline.Note(s.Time, v.Short())
	}
	sc.refillWhenIdle(s)
}

// refillWhenIdle boots the warm pool back to size only when the pool has
// no work now but more is to come (a later wave), and is at its floor: then
// the boot competes with nothing, and no drained worker is coming that
// could refill it without a boot (park). A job whose work is all done
// boots nothing more.
func (sc *scaler) refillWhenIdle(s autoscale.Signals) {
	if s.Backlog > 0 || s.InFlight > 0 || sc.q.left() == 0 {
		return
	}
	ready, booting, draining, _ := sc.p.counts()
	if draining == 0 && ready+booting <= sc.ctrl.Policy().Min {
		sc.p.refillWarm()
	}
}

// count adds a decision to the summary's counts, by kind and rule.
func (sc *scaler) count(kind string) {
	sc.r.mu.Lock()
	defer sc.r.mu.Unlock()
	if sc.r.decisionCounts == nil {
		sc.r.decisionCounts = map[string]int{}
	}
	sc.r.decisionCounts[kind]++
}

// holdClause is a hold's reason without its numbers, so a hold is logged
// again when its reason changes, not when a count in it moves.
func holdClause(reason string) string {
	var b strings.Builder
	for _, r := range reason {
		if unicode.IsDigit(r) || r == '.' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// signals measures the pool now.
func (sc *scaler) signals(ctx context.Context) autoscale.Signals {
	now := time.Now()
	pending, running := sc.q.remaining()
	ready, booting, draining, warm := sc.p.counts()
	sc.r.mu.Lock()
	done := sc.r.completed
	sc.r.mu.Unlock()
	warmBooting, boots := sc.p.starting()
	s := autoscale.Signals{Time: now, Ready: ready, Booting: booting, Draining: draining, Warm: warm,
		WarmBooting: warmBooting, Boots: boots,
		Backlog: pending, InFlight: running, Slots: sc.r.Spec.Pool.Slots, Completed: done,
		VCPUs: max(1, sc.r.Spec.VM.VCPUs)}
	if ready > 0 {
		s.BusyRatio = float64(running) / float64(ready*s.Slots)
	}
	s.GuestCPU = sc.guestCPU(ctx, now)
	s.HostCPU = sc.host.sample()
	s.HostCPUs = sc.host.cpus
	sc.rate = append(sc.rate, ratePoint{now, done})
	for len(sc.rate) > 1 && now.Sub(sc.rate[0].at) > rateWindow {
		sc.rate = sc.rate[1:]
	}
	if first := sc.rate[0]; now.Sub(first.at) > 0 {
		s.CompletionRate = float64(done-first.done) / now.Sub(first.at).Seconds()
	}
	return s
}

// guestCPU is the mean utilisation of the ready members' vCPUs since the
// previous tick, from the cumulative CPU time libvirt reports.
func (sc *scaler) guestCPU(ctx context.Context, now time.Time) float64 {
	sc.p.mu.Lock()
	var ms []*member
	for m := range sc.p.members {
		if m.state == memberReady && m.w != nil {
			ms = append(ms, m)
		}
	}
	sc.p.mu.Unlock()
	var sum float64
	n := 0
	vcpus := float64(max(1, sc.r.Spec.VM.VCPUs))
	for _, m := range ms {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		t, err := sc.r.Provider.CPUTime(cctx, m.w)
		cancel()
		if err != nil {
			continue
		}
		sc.p.mu.Lock()
		if !m.lastCPUAt.IsZero() && t >= m.lastCPU {
			sum += float64(t-m.lastCPU) / float64(now.Sub(m.lastCPUAt)) / vcpus
			n++
		}
		m.lastCPU, m.lastCPUAt = t, now
		sc.p.mu.Unlock()
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
