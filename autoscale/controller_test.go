package autoscale

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at is the fake clock: seconds after t0.
func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

// pool is signals for a pool of ready VMs with backlog queued and
// inFlight running, one slot each, at sec.
func pool(sec float64, ready, backlog, inFlight int) Signals {
	s := Signals{Time: at(sec), Ready: ready, Backlog: backlog, InFlight: inFlight, Slots: 1}
	if ready > 0 {
		s.BusyRatio = float64(inFlight) / float64(ready)
	}
	return s
}

// bare is a policy with every rule off but Max, to switch rules on one
// at a time.
func bare() Policy { return Policy{Max: 10, Metric: MetricBacklog} }

// tick is one Decide call and what it must return.
type tick struct {
	s    Signals
	want int
	rule string // "" when no rule may bind
}

func runTicks(t *testing.T, p Policy, ticks []tick) *Controller {
	t.Helper()
	c, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	for i, tk := range ticks {
		d := c.Decide(tk.s)
		if d.Desired != tk.want || d.Rule != tk.rule {
			t.Fatalf("tick %d (t=%s): desired %d rule %q, want %d rule %q\nreason: %s",
				i, tk.s.Time.Sub(t0), d.Desired, d.Rule, tk.want, tk.rule, d.Reason)
		}
		checkAction(t, d)
	}
	return c
}

func checkAction(t *testing.T, d Decision) {
	t.Helper()
	want := ActionNone
	switch {
	case d.Desired > d.Current:
		want = ActionScaleOut
	case d.Desired < d.Current:
		want = ActionScaleIn
	}
	if d.Action != want {
		t.Errorf("action %s for %d→%d", d.Action, d.Current, d.Desired)
	}
	if d.Reason == "" {
		t.Error("empty reason")
	}
}

func TestRules(t *testing.T) {
	busy := func(sec float64, ready int, ratio float64) Signals {
		s := pool(sec, ready, 0, 1)
		s.BusyRatio = ratio
		return s
	}
	tests := []struct {
		name  string
		edit  func(*Policy)
		ticks []tick
	}{
		{
			name: "target tracking on the backlog",
			ticks: []tick{
				{pool(0, 2, 4, 2), 6, ""},
				{pool(2, 4, 0, 2), 2, ""},
			},
		},
		{
			name: "tolerance: within keeps, just outside changes",
			edit: func(p *Policy) { p.Metric, p.Target, p.Tolerance, p.Max = MetricBusy, 0.8, 0.1, 20 },
			ticks: []tick{
				{busy(0, 10, 0.84), 10, RuleTolerance}, // ratio 1.05
				{busy(2, 10, 0.88), 10, RuleTolerance}, // ratio 1.10, the edge
				{busy(4, 10, 0.89), 12, ""},            // ratio 1.11 → ceil(11.1)
				{busy(6, 20, 0.74), 20, RuleTolerance}, // ratio 0.925
				{busy(8, 20, 0.70), 18, ""},            // ratio 0.875 → ceil(17.5)
			},
		},
		{
			name: "scale-up window follows the lowest recommendation",
			edit: func(p *Policy) { p.ScaleUpWindow = D(10 * time.Second) },
			ticks: []tick{
				{pool(0, 2, 1, 2), 3, ""},
				{pool(2, 2, 4, 2), 3, RuleWindow}, // wants 6; 3 was asked 2 s ago
				{pool(8, 2, 4, 2), 3, RuleWindow},
				{pool(10, 2, 4, 2), 6, ""}, // the 3 at t=0 has left the window
			},
		},
		{
			name: "scale-down window follows the highest recommendation, one scale-in per window",
			edit: func(p *Policy) { p.ScaleDownWindow, p.MaxStepDown = D(30*time.Second), 1 },
			ticks: []tick{
				{pool(0, 5, 0, 5), 5, ""},
				{pool(2, 5, 0, 1), 5, RuleWindow},
				{pool(28, 5, 0, 1), 5, RuleWindow},
				{pool(30, 5, 0, 1), 4, RuleMaxStep}, // every recommendation in the window is 1
				{pool(32, 4, 0, 1), 4, RuleWindow},  // the window restarts at the scale-in
				{pool(58, 4, 0, 1), 4, RuleWindow},
				{pool(60, 4, 0, 1), 3, RuleMaxStep},
			},
		},
		{
			name: "scale-down window: a spike inside it holds the pool",
			edit: func(p *Policy) { p.ScaleDownWindow = D(30 * time.Second) },
			ticks: []tick{
				{pool(0, 4, 0, 1), 4, RuleWindow}, // the window is not yet covered
				{pool(20, 4, 2, 2), 4, ""},        // recommends 4
				{pool(40, 4, 0, 1), 4, RuleWindow},
				{pool(49, 4, 0, 1), 4, RuleWindow},
				{pool(50, 4, 0, 1), 1, ""},
			},
		},
		{
			name: "cooldown after scale-out blocks both directions, after scale-in only scale-in",
			edit: func(p *Policy) { p.CooldownOut, p.CooldownIn = D(5*time.Second), D(15*time.Second) },
			ticks: []tick{
				{pool(0, 2, 2, 2), 4, ""},
				{pool(2, 4, 2, 4), 4, RuleCooldown},
				{pool(4.9, 4, 2, 4), 4, RuleCooldown},
				{pool(5, 4, 2, 4), 6, ""},
				{pool(6, 6, 0, 1), 6, RuleCooldown}, // scale-in right after scale-out
				{pool(10, 6, 0, 1), 1, ""},
				{pool(12, 1, 4, 1), 5, ""},           // scale-out right after scale-in
				{pool(20, 5, 0, 4), 5, RuleCooldown}, // 15 s after the scale-in at 10
				{pool(25, 5, 0, 4), 4, ""},
				{pool(27, 4, 0, 3), 4, RuleCooldown},
				{pool(39.9, 4, 0, 3), 4, RuleCooldown},
				{pool(40, 4, 0, 3), 3, ""},
			},
		},
		{
			name: "max step up and down",
			edit: func(p *Policy) { p.MaxStepUp, p.MaxStepDown = 2, 1 },
			ticks: []tick{
				{pool(0, 2, 8, 2), 4, RuleMaxStep},
				{pool(2, 5, 0, 1), 4, RuleMaxStep},
				{pool(4, 0, 9, 0), 2, RuleMaxStep}, // from zero too
			},
		},
		{
			name: "min and max clamp",
			edit: func(p *Policy) { p.Min, p.Max = 2, 6 },
			ticks: []tick{
				{pool(0, 4, 20, 4), 6, RuleMax},
				{pool(2, 4, 0, 0), 2, RuleMin},
				{pool(4, 1, 0, 1), 2, RuleMin},
			},
		},
		{
			name: "work waiting with no VMs starts at least one",
			ticks: []tick{
				{pool(0, 0, 3, 0), 3, ""},
				{pool(2, 0, 1, 0), 1, ""},
			},
		},
		{
			name: "work waiting with no VMs under the default policy",
			edit: func(p *Policy) { *p = DefaultPolicy() },
			ticks: []tick{
				{pool(0, 0, 1, 0), 1, ""},
				{pool(2, 0, 9, 0), 2, RuleMaxStep},
			},
		},
		{
			name: "work waiting with no VMs on the busy metric uses slots",
			edit: func(p *Policy) { p.Metric = MetricBusy },
			ticks: []tick{
				{Signals{Time: at(0), Backlog: 3, Slots: 2}, 2, ""},
			},
		},
		{
			name: "booting VMs are not cancelled on a low busy reading",
			edit: func(p *Policy) { p.Metric = MetricBusy },
			ticks: []tick{
				{Signals{Time: at(0), Ready: 2, Booting: 2, InFlight: 1, BusyRatio: 0.5, Slots: 1}, 4, ""},
			},
		},
		{
			name: "scale to zero after the idle timeout, not before",
			edit: func(p *Policy) { p.IdleTimeout = D(30 * time.Second) },
			ticks: []tick{
				{pool(0, 2, 1, 2), 3, ""},
				{pool(10, 3, 0, 0), 1, RuleIdle}, // idle for 0 s: keep one
				{pool(12, 1, 0, 0), 1, RuleIdle},
				{pool(29.9, 1, 0, 0), 1, RuleIdle}, // the last work was at 0
				{pool(30, 1, 0, 0), 0, ""},         // the metric alone asks for 0 now
				{pool(32, 0, 0, 0), 0, ""},
				{pool(34, 0, 2, 0), 2, ""}, // work again
			},
		},
		{
			name: "scale to zero skips the window and the step",
			edit: func(p *Policy) {
				p.IdleTimeout, p.ScaleDownWindow, p.MaxStepDown = D(30*time.Second), D(60*time.Second), 1
			},
			ticks: []tick{
				{pool(0, 4, 2, 2), 4, ""},
				{pool(2, 4, 0, 0), 4, RuleWindow},
				{pool(29.9, 4, 0, 0), 4, RuleWindow},
				{pool(30, 4, 0, 0), 0, RuleIdle},
			},
		},
		{
			name: "no scale to zero with min above zero",
			edit: func(p *Policy) { p.Min, p.IdleTimeout = 1, D(30*time.Second) },
			ticks: []tick{
				{pool(0, 2, 0, 1), 1, ""},
				{pool(100, 1, 0, 0), 1, RuleMin},
			},
		},
		{
			name: "in-flight work alone keeps a VM",
			edit: func(p *Policy) { p.Target = 4 },
			ticks: []tick{
				{pool(0, 2, 0, 1), 1, ""},
			},
		},
		{
			name: "step scaling",
			edit: func(p *Policy) {
				p.Steps = []Step{{0, 0.5, -1}, {0.5, 1.5, 0}, {1.5, 3, 1}, {3, 0, 3}}
			},
			ticks: []tick{
				{pool(0, 4, 0, 1), 3, ""},   // ratio 0.25
				{pool(2, 4, 1, 3), 4, ""},   // ratio 1
				{pool(4, 4, 4, 4), 5, ""},   // ratio 2
				{pool(6, 4, 16, 4), 7, ""},  // ratio 5
				{pool(8, 4, 100, 4), 7, ""}, // no upper bound
			},
		},
		{
			name: "step scaling with a gap changes nothing",
			edit: func(p *Policy) { p.Steps = []Step{{2, 0, 1}} },
			ticks: []tick{
				{pool(0, 4, 0, 4), 4, ""},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := bare()
			if tc.edit != nil {
				tc.edit(&p)
			}
			runTicks(t, p, tc.ticks)
		})
	}
}

func TestReasonHasTheNumbers(t *testing.T) {
	p := bare()
	p.Max = 4
	c, _ := New(p)
	d := c.Decide(pool(0, 2, 10, 2))
	want := "backlog 10 + in flight 2 over 2 VMs = 6.0/VM vs target 1.0 → 12, capped by max 4"
	if d.Reason != want || d.Rule != RuleMax || d.Raw != 12 || d.Desired != 4 || d.Current != 2 {
		t.Errorf("got %+v\nwant reason %q", d, want)
	}
	if !d.Time.Equal(at(0)) || d.Signals.Backlog != 10 {
		t.Errorf("decision does not carry its inputs: %+v", d)
	}
}

func TestDecideReadsNoClock(t *testing.T) {
	// Signals from long ago decide exactly as recent ones would.
	old := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
	p := bare()
	p.CooldownOut = D(5 * time.Second)
	c, _ := New(p)
	c.Decide(Signals{Time: old, Ready: 1, Backlog: 4, InFlight: 1, Slots: 1})
	d := c.Decide(Signals{Time: old.Add(time.Second), Ready: 5, Backlog: 8, InFlight: 5, Slots: 1})
	if d.Rule != RuleCooldown {
		t.Errorf("cooldown measured against the wall clock? %+v", d)
	}
}

func BenchmarkDecide(b *testing.B) {
	c, err := New(DefaultPolicy())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s := pool(float64(i)*2, 2+i%3, (i*7)%40, 2)
		s.Completed = int64(i)
		s.HostCPU, s.GuestCPU = 0.5, 0.9
		c.Decide(s)
	}
}

func TestRuleNamesMatchTypes(t *testing.T) {
	// types.go lists the rule names in Decision.Rule's comment; keep them
	// the same words.
	for _, r := range []string{RuleMin, RuleMax, RuleTolerance, RuleWindow, RuleCooldown, RuleMaxStep, RuleCeiling, RuleIdle} {
		if strings.TrimSpace(r) == "" || strings.ContainsAny(r, " _") {
			t.Errorf("rule %q", r)
		}
	}
}
