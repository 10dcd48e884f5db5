package autoscale

import (
	"strings"
	"testing"
)

// fakePool is a closed loop for the controller: VMs boot in boot
// seconds, and the ready ones complete partitions at rate(ready) a second
// while any are left; a decision takes effect at once.
type fakePool struct {
	now     float64
	ready   int
	booting []float64 // when each booting VM will be ready
	left    int       // partitions queued or running
	done    float64
	boot    float64
	rate    func(ready int) float64
}

func (f *fakePool) signals() Signals {
	inFlight := min(f.ready, f.left)
	s := Signals{Time: at(f.now), Ready: f.ready, Booting: len(f.booting), Backlog: f.left - inFlight,
		InFlight: inFlight, Slots: 1, Completed: int64(f.done)}
	if f.ready > 0 {
		s.BusyRatio = float64(inFlight) / float64(f.ready)
	}
	return s
}

func (f *fakePool) apply(d Decision) {
	for n := d.Desired - d.Current; n > 0; n-- {
		f.booting = append(f.booting, f.now+f.boot)
	}
	for n := d.Current - d.Desired; n > 0; n-- {
		if len(f.booting) > 0 {
			f.booting = f.booting[1:]
		} else {
			f.ready--
		}
	}
}

// advance runs one second.
func (f *fakePool) advance() {
	if f.left > 0 {
		before := int(f.done)
		f.done += f.rate(f.ready)
		f.left -= min(f.left, int(f.done)-before)
	}
	f.now++
	var still []float64
	for _, b := range f.booting {
		if b <= f.now {
			f.ready++
		} else {
			still = append(still, b)
		}
	}
	f.booting = still
}

// drive ticks the controller every second for secs seconds.
func drive(t *testing.T, c *Controller, f *fakePool, secs int) []Decision {
	t.Helper()
	var ds []Decision
	for range secs {
		d := c.Decide(f.signals())
		checkAction(t, d)
		ds = append(ds, d)
		f.apply(d)
		f.advance()
	}
	return ds
}

func rates(r map[int]float64) func(int) float64 {
	return func(n int) float64 { return r[n] }
}

// ceilingPolicy is the default policy without expiry; the fake pool has
// no host CPU reading, so only a probe can find the ceiling.
func ceilingPolicy() Policy {
	p := DefaultPolicy()
	p.Max = 4
	p.Ceiling.Expire = D(0)
	return p
}

func TestCeilingFoundWhenAnAddedVMAddsTooLittle(t *testing.T) {
	c, _ := New(ceilingPolicy())
	// 1→2 doubles the rate; the third VM adds 2%, under the 15% × 1/2
	// of the 2-VM rate it would need.
	f := &fakePool{ready: 1, left: 1000, boot: 2, rate: rates(map[int]float64{1: 0.5, 2: 1.0, 3: 1.02, 4: 1.0})}
	ds := drive(t, c, f, 150)

	n, why := c.Ceiling()
	if n != 2 {
		t.Fatalf("ceiling %d (%s), want 2\n%s", n, why, dump(ds))
	}
	for _, w := range []string{"2→3 VMs", "1.00 [1.00–1.00] → 1.0", "partitions/s", "90% interval", "15%"} {
		if !strings.Contains(why, w) {
			t.Errorf("reason %q lacks %q", why, w)
		}
	}
	var found int
	for i, d := range ds {
		if d.Rule == RuleCeiling && strings.Contains(d.Reason, "throughput ceiling") {
			if found == 0 {
				found = i
			}
			if d.Desired != 2 || d.Raw <= 2 {
				t.Errorf("tick %d: clamped to %d from raw %d, want 2 from more", i, d.Desired, d.Raw)
			}
		}
		if found > 0 && d.Desired > 2 {
			t.Errorf("tick %d: desired %d after the ceiling", i, d.Desired)
		}
	}
	if found == 0 {
		t.Fatalf("no decision clamped by the ceiling\n%s", dump(ds))
	}
	if d := ds[found]; d.Current != 3 || d.Action != ActionScaleIn {
		t.Errorf("the ceiling should remove the probe's VM at once: %+v", d)
	}
	if last := ds[len(ds)-1]; last.Current != 2 || last.Rule != RuleCeiling {
		t.Errorf("last decision %+v, want 2 VMs held by the ceiling", last)
	}
}

func TestCeilingNotFoundWhenVMsHelp(t *testing.T) {
	c, _ := New(ceilingPolicy())
	f := &fakePool{ready: 1, left: 1000, boot: 2, rate: func(n int) float64 { return 0.5 * float64(n) }}
	ds := drive(t, c, f, 150)
	if n, why := c.Ceiling(); n != 0 {
		t.Fatalf("ceiling %d: %s\n%s", n, why, dump(ds))
	}
	if f.ready != 4 {
		t.Errorf("pool at %d, want max 4\n%s", f.ready, dump(ds))
	}
}

func TestCeilingNotJudgedWhileTheBacklogEmpties(t *testing.T) {
	c, _ := New(ceilingPolicy())
	// VMs scale linearly, but the work runs out soon after the third VM
	// is ready: the rate falls for lack of work, which is no ceiling.
	f := &fakePool{ready: 1, left: 24, boot: 2, rate: func(n int) float64 { return 0.5 * float64(n) }}
	ds := drive(t, c, f, 90)
	if n, why := c.Ceiling(); n != 0 {
		t.Fatalf("ceiling %d: %s\n%s", n, why, dump(ds))
	}
	grewTo3 := false
	for _, d := range ds {
		grewTo3 = grewTo3 || d.Current >= 3
	}
	if !grewTo3 || f.left != 0 {
		t.Fatalf("scenario did not happen (grew to 3: %v, left %d)\n%s", grewTo3, f.left, dump(ds))
	}
}

func TestCeilingSkippedWithNoCompletions(t *testing.T) {
	// Nothing completes (partitions longer than the run): no baseline,
	// so growth waits a bounded time and then goes on unmeasured.
	c, _ := New(ceilingPolicy())
	f := &fakePool{ready: 2, left: 1000, boot: 2, rate: rates(nil)}
	ds := drive(t, c, f, 60)
	if n, _ := c.Ceiling(); n != 0 {
		t.Fatalf("ceiling %d with no rate measured", n)
	}
	if f.ready+len(f.booting) <= 2 {
		t.Fatalf("pool never grew\n%s", dump(ds))
	}
}

// feed gives the controller one signal a second from `from` to `to`
// (exclusive) for a pool of ready and booting VMs with a backlog,
// completing rate partitions a second.
func feed(c *Controller, from, to float64, ready, booting, backlog int, rate float64, done *float64) Decision {
	var d Decision
	for sec := from; sec < to; sec++ {
		d = c.Decide(Signals{Time: at(sec), Ready: ready, Booting: booting, Backlog: backlog,
			InFlight: ready, Slots: 1, Completed: int64(*done)})
		*done += rate
	}
	return d
}

func TestCeilingMeasurementRestartsWhenTheSizeChanges(t *testing.T) {
	tests := []struct {
		name    string
		shrink  bool
		ceiling int
	}{
		{"steady at 3: judged", false, 2},
		{"back to 2 before it is judged: dropped", true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := New(ceilingPolicy())
			var done float64
			// Three 2 s blocks at 2 VMs are a baseline: the probe is asked
			// for at 6 s.
			if d := feed(c, 0, 7, 2, 0, 20, 1.0, &done); d.Desired != 3 {
				t.Fatalf("no probe 2→3 after measuring 2 VMs for 6 s: %+v", d)
			}
			feed(c, 7, 10, 2, 1, 20, 1.0, &done)
			if tc.shrink {
				feed(c, 10, 14, 3, 0, 20, 0.8, &done)
				feed(c, 14, 40, 2, 0, 20, 0.8, &done)
			} else {
				feed(c, 10, 40, 3, 0, 20, 0.8, &done)
			}
			if n, why := c.Ceiling(); n != tc.ceiling {
				t.Errorf("ceiling %d (%s), want %d", n, why, tc.ceiling)
			}
		})
	}
}

func TestCeilingHostPrior(t *testing.T) {
	// A pool whose VMs are all busy (guest CPU per vCPU) on a host of
	// cpus CPUs at host utilisation.
	sig := func(ready, cpus, vcpus int, host, guest float64) Signals {
		s := pool(0, ready, 20, ready)
		s.HostCPU, s.GuestCPU, s.HostCPUs, s.VCPUs = host, guest, cpus, vcpus
		return s
	}
	tests := []struct {
		name string
		s    Signals
		want int
		why  string
	}{
		{"2 busy VMs fill a 2-core host", sig(2, 2, 1, 0.95, 1), 2, "host prior: 2 CPUs × 90%, 0.0 cores used outside the pool: 2 VMs can use 1.8 cores"},
		{"half a 2-core host has room for one more", sig(1, 2, 1, 0.5, 1), 2, "host prior: room for 2 VMs"},
		{"a neighbour on the other core leaves none", sig(1, 2, 1, 1.0, 1), 1, "1.0 cores used outside the pool"},
		{"2-vCPU VMs: one fills a 2-core host", sig(1, 2, 2, 1.0, 1), 1, "1 VMs can use 1.8 cores"},
		{"an 8-core host has room for the step", sig(2, 8, 1, 0.25, 1), 4, ""},
		{"no reading: measure first", sig(2, 0, 1, 0, 0), 2, "measuring throughput at 2 VMs"},
		{"a host full from outside: no room, hold", sig(1, 2, 1, 1.0, 0.001), 1, "1 VMs can use 0.0 cores"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := New(DefaultPolicy())
			d := c.Decide(tc.s)
			if d.Desired != tc.want {
				t.Fatalf("desired %d, want %d: %s", d.Desired, tc.want, d.Reason)
			}
			if tc.why != "" && (d.Rule != RuleCeiling || !strings.Contains(d.Reason, tc.why)) {
				t.Errorf("rule %q reason %q, want ceiling and %q", d.Rule, d.Reason, tc.why)
			}
		})
	}
}

func TestCeilingDisabled(t *testing.T) {
	p := ceilingPolicy()
	p.Ceiling.Enabled = false
	c, _ := New(p)
	f := &fakePool{ready: 1, left: 1000, boot: 2, rate: rates(map[int]float64{1: 0.5, 2: 1.0, 3: 1.0, 4: 1.0})}
	drive(t, c, f, 60)
	if n, _ := c.Ceiling(); n != 0 || f.ready != 4 {
		t.Errorf("ceiling %d, pool %d: want no ceiling and max 4", n, f.ready)
	}
}

func dump(ds []Decision) string {
	var b strings.Builder
	for _, d := range ds {
		if d.Action != ActionNone || d.Rule == RuleCeiling {
			b.WriteString(d.Time.Sub(t0).String() + " " + string(d.Action) + " " + d.Rule + ": " + d.Reason + "\n")
		}
	}
	return b.String()
}
