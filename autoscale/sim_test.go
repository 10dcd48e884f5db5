package autoscale

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// comparison is one trace run on fixed pools of 1..maxSize VMs and on an
// autoscaled pool.
type comparison struct {
	fixed []SimResult // fixed[i] is a pool of i+1 VMs
	auto  SimResult
	best  int // index into fixed of the best fixed pool
}

// compare runs t on fixed pools of 1..p.Max VMs and autoscaled by p. The
// best fixed pool has the shortest makespan; pools within 1% of it are
// as fast, and the cheapest of those is best.
func compare(t *testing.T, p Policy, m Model, tr Trace) comparison {
	t.Helper()
	var c comparison
	for n := 1; n <= p.Max; n++ {
		c.fixed = append(c.fixed, SimulateFixed(n, m, tr))
	}
	fastest := c.fixed[0].Makespan
	for _, r := range c.fixed {
		fastest = min(fastest, r.Makespan)
	}
	c.best = -1
	for i, r := range c.fixed {
		if float64(r.Makespan) <= 1.01*float64(fastest) && (c.best < 0 || r.VMSeconds < c.fixed[c.best].VMSeconds) {
			c.best = i
		}
	}
	var err error
	if c.auto, err = Simulate(p, m, tr); err != nil {
		t.Fatal(err)
	}
	return c
}

// labelled is a further autoscaled run for a comparison's table.
type labelled struct {
	label string
	r     SimResult
}

func (c comparison) table(extra ...labelled) string {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("\n%-28s %9s %10s\n", c.auto.Trace, "makespan", "VM-seconds"))
	for i, r := range c.fixed {
		mark := ""
		if i == c.best {
			mark = "  ← best fixed"
		}
		b.WriteString(fmt.Sprintf("%-28s %8.1fs %10.1f%s\n", fmt.Sprintf("fixed %d", i+1), r.Makespan.Seconds(), r.VMSeconds, mark))
	}
	for _, x := range append([]labelled{{"autoscaled", c.auto}}, extra...) {
		r := x.r
		b.WriteString(fmt.Sprintf("%-28s %8.1fs %10.1f  (max %d VMs, %d out, %d in, %d flaps, ceiling %d)\n",
			x.label, r.Makespan.Seconds(), r.VMSeconds, r.MaxSize, r.ScaleOuts, r.ScaleIns, r.Flaps, r.Ceiling))
	}
	best := c.fixed[c.best]
	b.WriteString(fmt.Sprintf("autoscaled/best fixed: makespan %.2f×, VM-seconds %.2f×",
		c.auto.Makespan.Seconds()/best.Makespan.Seconds(), c.auto.VMSeconds/best.VMSeconds))
	return b.String()
}

func TestSimulateFixedMatchesArithmetic(t *testing.T) {
	// 40 partitions of 2 s on 2 cores: one VM boots in 3 s and runs them
	// all in 80 s; two boot side by side in 3 s and run 20 each.
	tests := []struct {
		size     int
		makespan time.Duration
	}{
		{1, 83 * time.Second},
		{2, 43 * time.Second},
	}
	for _, tc := range tests {
		r := SimulateFixed(tc.size, DefaultModel(), BurstTrace(40))
		if d := r.Makespan - tc.makespan; d < -200*time.Millisecond || d > 200*time.Millisecond {
			t.Errorf("fixed %d: makespan %s, want %s", tc.size, r.Makespan, tc.makespan)
		}
		if want := float64(tc.size) * r.Makespan.Seconds(); abs(r.VMSeconds-want) > 0.01 {
			t.Errorf("fixed %d: %.1f VM-seconds, want %.1f", tc.size, r.VMSeconds, want)
		}
	}
	// A third VM on 2 cores is slower than two, not faster.
	if r2, r3 := SimulateFixed(2, DefaultModel(), BurstTrace(40)), SimulateFixed(3, DefaultModel(), BurstTrace(40)); r3.Makespan <= r2.Makespan {
		t.Errorf("3 VMs (%s) not slower than 2 (%s) on 2 cores", r3.Makespan, r2.Makespan)
	}
}

func TestSimulateBurstAgainstFixedPools(t *testing.T) {
	m := DefaultModel()
	tr := BurstTrace(40)
	p := DefaultPolicy()
	p.Max = 6
	c := compare(t, p, m, tr)

	// The same policy without host CPU readings (a remote fleet): only
	// the completion-rate probe can find the 2-VM ceiling.
	rateOnly := p
	rateOnly.Ceiling.HostCPU = 0
	probed, err := Simulate(rateOnly, m, tr)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(c.table(labelled{"autoscaled, no host CPU", probed}))

	best := c.fixed[c.best]
	if c.auto.Makespan.Seconds() > 1.2*best.Makespan.Seconds() {
		t.Errorf("autoscaled makespan %s > 1.2 × best fixed %s", c.auto.Makespan, best.Makespan)
	}
	// No pool of 1-vCPU VMs can spend fewer VM-seconds than the CPU time
	// of the work; when that floor is above 0.8× the best fixed pool
	// (here: the best fixed pool keeps both cores busy from boot to
	// end), "0.8× its VM-seconds" cannot be met by anything, and the
	// honest bound is to be about as cheap as it.
	floor := float64(tr.Total()) * m.Work.Seconds() / float64(m.VCPUs)
	if floor <= 0.8*best.VMSeconds {
		if c.auto.VMSeconds > 0.8*best.VMSeconds {
			t.Errorf("autoscaled %.1f VM-seconds > 0.8 × best fixed %.1f", c.auto.VMSeconds, best.VMSeconds)
		}
	} else {
		t.Logf("0.8× the best fixed pool's VM-seconds (%.1f) is below the %.1f VM-seconds of CPU the work needs: not reachable",
			0.8*best.VMSeconds, floor)
		if c.auto.VMSeconds > 1.1*best.VMSeconds {
			t.Errorf("autoscaled %.1f VM-seconds > 1.1 × best fixed %.1f", c.auto.VMSeconds, best.VMSeconds)
		}
	}
	// Against provisioning for the peak, autoscaling must pay.
	if peak := c.fixed[len(c.fixed)-1]; c.auto.VMSeconds > 0.8*peak.VMSeconds || c.auto.Makespan > peak.Makespan {
		t.Errorf("autoscaled (%s, %.1f) not better than fixed %d (%s, %.1f)", c.auto.Makespan, c.auto.VMSeconds,
			len(c.fixed), peak.Makespan, peak.VMSeconds)
	}

	if probed.Ceiling != 2 {
		t.Errorf("rate-only ceiling %d, want 2", probed.Ceiling)
	}
	if probed.Makespan.Seconds() > 1.2*best.Makespan.Seconds() {
		t.Errorf("rate-only makespan %s > 1.2 × best fixed %s", probed.Makespan, best.Makespan)
	}
	if probed.MaxSize > 3 {
		t.Errorf("rate-only pool reached %d VMs: a probe adds at most half the pool", probed.MaxSize)
	}
}

func TestSimulateIdleGapsAgainstFixedPools(t *testing.T) {
	// Work that comes and goes, with gaps longer than the idle timeout:
	// here a fixed pool fast enough for the peaks idles between them, and
	// the autoscaled pool must match its makespan within 20% on at most
	// 80% of its VM-seconds.
	p := DefaultPolicy()
	p.Max = 6
	for _, tr := range []Trace{
		SquareWaveTrace(4*time.Minute, 1, 0, 3),
		BurstyTrace(1, 10*time.Minute, 40*time.Second, 12),
		BurstyTrace(2, 10*time.Minute, time.Minute, 20),
		BurstyTrace(3, 10*time.Minute, 30*time.Second, 8),
	} {
		t.Run(tr.Name, func(t *testing.T) {
			c := compare(t, p, DefaultModel(), tr)
			t.Log(c.table())
			best := c.fixed[c.best]
			if c.auto.Makespan.Seconds() > 1.2*best.Makespan.Seconds() {
				t.Errorf("makespan %s > 1.2 × best fixed %s", c.auto.Makespan, best.Makespan)
			}
			if c.auto.VMSeconds > 0.8*best.VMSeconds {
				t.Errorf("%.1f VM-seconds > 0.8 × best fixed %.1f", c.auto.VMSeconds, best.VMSeconds)
			}
		})
	}
}

func TestSimulateSquareWave(t *testing.T) {
	tests := []struct {
		name string
		m    Model
		p    func() Policy
		tr   Trace
	}{
		{
			name: "8 cores, demand above max",
			m:    Model{HostCores: 8},
			p:    func() Policy { p := DefaultPolicy(); p.Max = 4; return p },
			tr:   SquareWaveTrace(2*time.Minute, 3, 1, 4),
		},
		{
			name: "8 cores, low load between peaks",
			m:    Model{HostCores: 8},
			p:    func() Policy { p := DefaultPolicy(); p.Max = 6; return p },
			tr:   SquareWaveTrace(2*time.Minute, 3, 1, 4),
		},
		{
			name: "2 cores",
			m:    DefaultModel(),
			p:    func() Policy { p := DefaultPolicy(); p.Max = 6; return p },
			tr:   SquareWaveTrace(time.Minute, 2, 0, 5),
		},
		{
			name: "2 cores, no host CPU, min 1",
			m:    DefaultModel(),
			p:    func() Policy { p := DefaultPolicy(); p.Max, p.Min, p.Ceiling.HostCPU = 6, 1, 0; return p },
			tr:   SquareWaveTrace(2*time.Minute, 1, 0, 4),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p()
			r, err := Simulate(p, tc.m, tc.tr)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: makespan %s, %.1f VM-seconds, max %d VMs, %d scale-outs, %d scale-ins, %d flaps, ceiling %d",
				r.Trace, r.Makespan, r.VMSeconds, r.MaxSize, r.ScaleOuts, r.ScaleIns, r.Flaps, r.Ceiling)
			if r.MaxSize > p.Max {
				t.Errorf("pool reached %d VMs, max %d", r.MaxSize, p.Max)
			}
			var lastIn time.Time
			for _, d := range r.Decisions {
				if d.Desired > p.Max || d.Desired < p.Min {
					t.Errorf("%s: desired %d outside [%d, %d]", d.Time.Sub(simEpoch), d.Desired, p.Min, p.Max)
				}
				if d.Action != ActionScaleIn {
					continue
				}
				// Scale to zero and the ceiling skip the window by design.
				if d.Rule != RuleIdle && d.Rule != RuleCeiling && !lastIn.IsZero() && d.Time.Sub(lastIn) < p.ScaleDownWindow.Duration {
					t.Errorf("%s: scale-in %s after the previous one, within the %s window: %s",
						d.Time.Sub(simEpoch), d.Time.Sub(lastIn), p.ScaleDownWindow, d.Reason)
				}
				lastIn = d.Time
			}
			if r.ScaleOuts == 0 || r.Actions != r.ScaleOuts+r.ScaleIns {
				t.Errorf("actions %d = %d out + %d in?", r.Actions, r.ScaleOuts, r.ScaleIns)
			}
			if len(r.Samples) != len(r.Decisions) {
				t.Errorf("%d samples for %d decisions", len(r.Samples), len(r.Decisions))
			}
		})
	}
}

func TestSimulateBigHostFindsNoCeiling(t *testing.T) {
	// On 8 cores six VMs all help: neither mechanism may stop growth.
	m := Model{HostCores: 8}
	tr := BurstTrace(120)
	p := DefaultPolicy()
	p.Max = 6
	c := compare(t, p, m, tr)
	rateOnly := p
	rateOnly.Ceiling.HostCPU = 0
	probed, err := Simulate(rateOnly, m, tr)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(c.table(labelled{"autoscaled, no host CPU", probed}))
	for _, r := range []SimResult{c.auto, probed} {
		if r.Ceiling != 0 || r.MaxSize != 6 {
			t.Errorf("ceiling %d, max %d VMs: want no ceiling and 6 VMs", r.Ceiling, r.MaxSize)
		}
	}
	if best := c.fixed[c.best]; c.auto.Makespan.Seconds() > 1.2*best.Makespan.Seconds() {
		t.Errorf("makespan %s > 1.2 × best fixed %s", c.auto.Makespan, best.Makespan)
	}
}

func TestSimulateWarmPoolResumes(t *testing.T) {
	// One partition a minute in: a warm VM resumes in 0.3 s where a cold
	// one boots in 3 s.
	tr := Trace{Name: "one late", Arrivals: []Arrival{{At: time.Minute, Count: 1}}}
	run := func(warm int) SimResult {
		p := DefaultPolicy()
		p.Warm = warm
		r, err := Simulate(p, DefaultModel(), tr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cold, warm := run(0), run(1)
	t.Logf("cold %s, warm %s", cold.Makespan, warm.Makespan)
	if gain := cold.Makespan - warm.Makespan; gain < 2*time.Second {
		t.Errorf("warm pool saved %s, want about 2.7 s", gain)
	}
	if warm.Samples[len(warm.Samples)-1].Warm != 0 && warm.Samples[0].Warm != 0 {
		t.Errorf("warm VM counted before it booted")
	}
	sawWarm := false
	for _, s := range warm.Samples {
		sawWarm = sawWarm || s.Warm == 1
	}
	if !sawWarm {
		t.Error("no sample shows the paused warm VM")
	}
}

func TestSimulateErrors(t *testing.T) {
	if _, err := Simulate(Policy{}, DefaultModel(), BurstTrace(1)); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("invalid policy: %v", err)
	}
	if _, err := Simulate(DefaultPolicy(), Model{HostCores: -1}, BurstTrace(1)); !errors.Is(err, ErrInvalidSim) {
		t.Errorf("invalid model: %v", err)
	}
	bad := Trace{Name: "negative", Arrivals: []Arrival{{At: 0, Count: -1}}}
	if _, err := Simulate(DefaultPolicy(), DefaultModel(), bad); !errors.Is(err, ErrInvalidSim) {
		t.Errorf("invalid trace: %v", err)
	}
}

func TestTraces(t *testing.T) {
	tests := []struct {
		tr    Trace
		total int
		last  time.Duration
	}{
		{BurstTrace(40), 40, 0},
		{StepTrace(time.Second, 1, 3, 10*time.Second, 20*time.Second), 10 + 30, 19 * time.Second},
		{RampTrace(time.Second, 0, 4, 4*time.Second), 0 + 1 + 2 + 3, 3 * time.Second},
		{SquareWaveTrace(10*time.Second, 2, 1, 3), 3 * (5*2 + 5*1), 29 * time.Second},
		{SquareWaveTrace(10*time.Second, 2, 0, 2), 2 * 5 * 2, 14 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.tr.Name, func(t *testing.T) {
			if got := tc.tr.Total(); got != tc.total {
				t.Errorf("total %d, want %d", got, tc.total)
			}
			if got := tc.tr.Arrivals[len(tc.tr.Arrivals)-1].At; got != tc.last {
				t.Errorf("last arrival at %s, want %s", got, tc.last)
			}
		})
	}
	a, b := BurstyTrace(7, time.Minute, 5*time.Second, 4), BurstyTrace(7, time.Minute, 5*time.Second, 4)
	if fmt.Sprint(a) != fmt.Sprint(b) || a.Total() == 0 {
		t.Error("bursty trace not reproducible from its seed")
	}
	for _, x := range a.Arrivals {
		if x.Count < 1 || x.Count > 4 || x.At >= time.Minute {
			t.Errorf("arrival %+v outside the trace's bounds", x)
		}
	}
}
