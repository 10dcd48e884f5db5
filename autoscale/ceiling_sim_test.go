package autoscale

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// mixedWorks are partitions of 1 to 9 s of CPU, in an order that puts
// long and short ones side by side, as the demo's primes partitions are.
var mixedWorks = []time.Duration{
	1 * time.Second, 9 * time.Second, 2 * time.Second, 8 * time.Second, 3 * time.Second,
	7 * time.Second, 4 * time.Second, 6 * time.Second, 5 * time.Second,
}

// demoPolicy is the demo's autoscaled pool: 1-4 VMs, one warm.
func demoPolicy(hostPrior bool) Policy {
	p := DefaultPolicy()
	p.Min, p.Max, p.Warm = 1, 4, 1
	if !hostPrior {
		p.Ceiling.HostCPU = 0
	}
	return p
}

// sizeWhileBacklog is the share of ticks with partitions queued during
// which the pool had at least n VMs ready, from its first such tick on.
func sizeWhileBacklog(r SimResult, n int) float64 {
	var with, all int
	seen := false
	for _, s := range r.Samples {
		seen = seen || s.Ready >= n
		if !seen || s.Backlog == 0 {
			continue
		}
		all++
		if s.Ready >= n {
			with++
		}
	}
	if all == 0 {
		return 0
	}
	return float64(with) / float64(all)
}

func TestSimulateNoFalseCeiling(t *testing.T) {
	tests := []struct {
		name string
		m    Model
		p    Policy
		tr   Trace
	}{
		{"equal partitions, no host prior", DefaultModel(), demoPolicy(false), BurstTrace(64)},
		{"mixed sizes, no host prior", Model{Works: mixedWorks}, demoPolicy(false), BurstTrace(64)},
		{"mixed sizes, warm resume with a replacement boot during the probe", Model{Works: mixedWorks, BootTime: 6 * time.Second}, demoPolicy(false), BurstTrace(64)},
		{"mixed sizes, host prior", Model{Works: mixedWorks}, demoPolicy(true), BurstTrace(64)},
		{"mixed sizes, completions only (no guest CPU), no host prior", Model{Works: mixedWorks, NoGuestCPU: true}, demoPolicy(false), BurstTrace(64)},
		{"waves, mixed sizes, no host prior", Model{Works: mixedWorks}, demoPolicy(false), SquareWaveTrace(90*time.Second, 24, 0, 3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := compare(t, tc.p, tc.m, tc.tr)
			t.Log(c.table())
			if c.auto.Ceiling == 1 {
				t.Errorf("a ceiling of 1 VM on a 2-core host: false")
			}
			for _, d := range c.auto.Decisions {
				if strings.Contains(d.Reason, "ceiling: 1→") {
					t.Errorf("%s: %s", d.Time.Sub(simEpoch), d.Reason)
				}
			}
			if share := sizeWhileBacklog(c.auto, 2); share < 0.8 {
				t.Errorf("2 VMs ready for %.0f%% of the ticks with a backlog, want 80%% or more", share*100)
			}
			// Without the host prior every step up is probed, and the
			// probe of a third VM costs a boot and a few seconds.
			limit := 1.2
			if tc.p.Ceiling.HostCPU > 0 {
				limit = 1.1
			}
			best := c.fixed[c.best]
			if r := c.auto.Makespan.Seconds() / best.Makespan.Seconds(); r > limit {
				t.Errorf("makespan %.2f× the best fixed pool's, want at most %.1f×", r, limit)
			}
		})
	}
}

func TestSimulateTrueCeiling(t *testing.T) {
	tests := []struct {
		name    string
		m       Model
		p       Policy
		ceiling int // 0: the prior holds growth without a probe
		maxSize int
	}{
		{"1-vCPU VMs, 2 cores, no host prior: 2→3 adds nothing", DefaultModel(), demoPolicy(false), 2, 3},
		{"1-vCPU VMs, mixed sizes, no host prior", Model{Works: mixedWorks}, demoPolicy(false), 2, 3},
		{"2-vCPU VMs on 2 cores, no host prior: 1→2 adds nothing", Model{VCPUs: 2, Slots: 2}, demoPolicy(false), 1, 2},
		{"1-vCPU VMs, host prior: never past 2", DefaultModel(), demoPolicy(true), 0, 2},
		{"2-vCPU VMs, host prior: never past 1", Model{VCPUs: 2, Slots: 2}, demoPolicy(true), 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Simulate(tc.p, tc.m, BurstTrace(120))
			if err != nil {
				t.Fatal(err)
			}
			found := map[int]int{} // ceilings declared, by size
			for _, d := range r.Decisions {
				for n := 1; n <= 4; n++ {
					if strings.Contains(d.Reason, fmt.Sprintf("ceiling: %d→", n)) {
						found[n]++
					}
				}
			}
			t.Logf("ceilings declared %v, max %d VMs, makespan %s, %.1f VM-s", found, r.MaxSize, r.Makespan, r.VMSeconds)
			if tc.ceiling > 0 && (found[tc.ceiling] == 0 || len(found) != 1) {
				t.Errorf("ceilings declared %v, want only %d\n%s", found, tc.ceiling, dump(r.Decisions))
			}
			if r.MaxSize > tc.maxSize {
				t.Errorf("grew to %d VMs, want at most %d", r.MaxSize, tc.maxSize)
			}
			if tc.ceiling > 0 {
				var v *Verdict
				for _, d := range r.Decisions {
					if d.Verdict != nil && d.Verdict.Outcome == "ceiling" {
						v = d.Verdict
					}
				}
				if v == nil || v.From != tc.ceiling || !(v.High < v.Need) || v.Level != DefaultConfidence {
					t.Errorf("verdict %+v: want a ceiling at %d with its interval below the need", v, tc.ceiling)
				} else if !strings.Contains(v.Short(), fmt.Sprintf("%d->%d VMs", v.From, v.To)) {
					t.Errorf("short verdict %q", v.Short())
				}
			}
		})
	}
}

func TestSimulateCeilingLiftsWhenANeighbourLeaves(t *testing.T) {
	// A neighbour holds one of the 2 cores (pinned) for the first 90 s:
	// a second VM then only shares the pool's one core, and the probe
	// finds a ceiling of 1. When the neighbour leaves, the load from
	// outside the pool drops by a core, the ceiling is lifted and the pool
	// grows to 2.
	m := DefaultModel()
	m.Neighbours = []Load{{From: 0, To: 90 * time.Second, Cores: 1, Pinned: true}}
	p := demoPolicy(false)
	p.Warm = 0
	p.Ceiling.Expire = D(0) // only the load change may lift it
	r, err := Simulate(p, m, BurstTrace(100))
	if err != nil {
		t.Fatal(err)
	}
	var found, lifted time.Duration
	maxAfter := 0
	for _, d := range r.Decisions {
		at := d.Time.Sub(simEpoch)
		switch {
		case found == 0 && strings.Contains(d.Reason, "ceiling: 1→2"):
			found = at
		case found > 0 && lifted == 0 && strings.Contains(d.Reason, "lifted: the host's other load moved"):
			lifted = at
		}
		if lifted > 0 {
			maxAfter = max(maxAfter, d.Signals.Ready)
		}
	}
	t.Logf("ceiling found at %s, lifted at %s; %d VMs after; makespan %s", found, lifted, maxAfter, r.Makespan)
	if found == 0 || found > 90*time.Second {
		t.Fatalf("no ceiling of 1 while the neighbour held a core\n%s", dump(r.Decisions))
	}
	if lifted < 90*time.Second || lifted > 100*time.Second {
		t.Fatalf("ceiling lifted at %s, want soon after the neighbour left at 90 s\n%s", lifted, dump(r.Decisions))
	}
	if maxAfter < 2 {
		t.Errorf("the pool stayed at %d VM after the ceiling was lifted", maxAfter)
	}
}

func TestCeilingExpires(t *testing.T) {
	// A true ceiling, re-probed after Expire: found again each time.
	p := demoPolicy(false)
	p.Warm = 0
	p.Ceiling.Expire = D(time.Minute)
	r, err := Simulate(p, DefaultModel(), BurstTrace(200))
	if err != nil {
		t.Fatal(err)
	}
	var lifts, founds int
	for _, d := range r.Decisions {
		if strings.Contains(d.Reason, "lifted after 1m0s") {
			lifts++
		}
		if strings.Contains(d.Reason, "ceiling: 2→3") {
			founds++
		}
	}
	t.Logf("%d lifts, %d ceilings found, makespan %s", lifts, founds, r.Makespan)
	if lifts < 2 || founds < lifts {
		t.Errorf("%d lifts and %d ceilings found over %s: want the ceiling re-probed and found again", lifts, founds, r.Makespan)
	}
}
