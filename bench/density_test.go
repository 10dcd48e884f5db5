package bench

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

const densityMiB = 1 << 20

// fakeDensityHost is a host whose VMs, /proc and clock are all simulated:
// starting and pinging advance the clock by the configured times, and each
// VM's QEMU burns CPU at its own rate while the clock runs.
type fakeDensityHost struct {
	t   *testing.T
	now time.Time

	create    func(n int) time.Duration           // create time of the n-th VM
	ping      func(vm, running int) time.Duration // round trip to the vm-th VM
	failStart map[int]error
	failPing  map[int]error // by number of VMs running
	// onStart runs inside the n-th Start (e.g. to cancel the context).
	onStart func(n int)

	cpuRate  func(vm int) float64 // fraction of a core
	rss, pss func(vm int) uint64
	avail0   uint64
	perVM    uint64 // available memory each running VM takes

	vms      map[string]*fakeDensityVM
	order    []string
	started  []string
	removed  []string
	removeOK []bool // whether the removal context was still live
}

type fakeDensityVM struct {
	n       int
	pid     int
	started time.Time
}

func newFakeDensityHost(t *testing.T) *fakeDensityHost {
	return &fakeDensityHost{
		t: t, now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		create:  func(int) time.Duration { return time.Second },
		ping:    func(int, int) time.Duration { return time.Millisecond },
		cpuRate: func(int) float64 { return 0.01 },
		rss:     func(int) uint64 { return 200 * densityMiB },
		pss:     func(int) uint64 { return 150 * densityMiB },
		avail0:  20 << 30, perVM: 250 * densityMiB,
		vms: map[string]*fakeDensityVM{},
	}
}

func (f *fakeDensityHost) env() DensityEnv {
	return DensityEnv{
		VMs: f, Proc: f,
		Name: func(i int) string { return fmt.Sprintf("vm-%d", i) },
		Now:  func() time.Time { return f.now },
		Wait: func(ctx context.Context, d time.Duration) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			f.now = f.now.Add(d)
			return nil
		},
	}
}

func (f *fakeDensityHost) Start(ctx context.Context, name string) error {
	n := len(f.started) + 1
	f.started = append(f.started, name)
	if f.onStart != nil {
		f.onStart(n)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.now = f.now.Add(f.create(n))
	if err := f.failStart[n]; err != nil {
		return err
	}
	f.vms[name] = &fakeDensityVM{n: n, pid: 1000 + n, started: f.now}
	f.order = append(f.order, name)
	return nil
}

func (f *fakeDensityHost) PID(_ context.Context, name string) (int, error) {
	vm, ok := f.vms[name]
	if !ok {
		return 0, fmt.Errorf("%s not running", name)
	}
	return vm.pid, nil
}

func (f *fakeDensityHost) Ping(ctx context.Context, name string) error {
	if err := f.failPing[len(f.vms)]; err != nil {
		return err
	}
	f.now = f.now.Add(f.ping(f.vms[name].n, len(f.vms)))
	return ctx.Err()
}

func (f *fakeDensityHost) Remove(ctx context.Context, name string) error {
	f.removed = append(f.removed, name)
	f.removeOK = append(f.removeOK, ctx.Err() == nil)
	delete(f.vms, name)
	return nil
}

func (f *fakeDensityHost) byPID(pid int) *fakeDensityVM {
	for _, vm := range f.vms {
		if vm.pid == pid {
			return vm
		}
	}
	f.t.Fatalf("no process %d", pid)
	return nil
}

func (f *fakeDensityHost) Memory(pid int) (ProcMemory, error) {
	vm := f.byPID(pid)
	return ProcMemory{RSS: f.rss(vm.n), PSS: f.pss(vm.n)}, nil
}

func (f *fakeDensityHost) CPUTime(pid int) (time.Duration, error) {
	vm := f.byPID(pid)
	return time.Duration(f.cpuRate(vm.n) * float64(f.now.Sub(vm.started))), nil
}

func (f *fakeDensityHost) MemAvailable() (uint64, error) {
	return f.avail0 - uint64(len(f.vms))*f.perVM, nil
}

func densityTestPlan() DensityPlan {
	return DensityPlan{Max: 4, Settle: 5 * time.Second, Pings: 5, Degrade: 2, ReserveMiB: 1024, GuestMiB: 256}
}

func TestDensityStopRules(t *testing.T) {
	errBoom := errors.New("libvirt said no")
	tests := []struct {
		name  string
		setup func(f *fakeDensityHost, p *DensityPlan)
		want  DensityStopReason
		// steps measured, VMs started, Within.
		steps, started, within int
		metrics                []string
		detail                 string
	}{
		{
			name:  "steady figures run to max",
			setup: func(*fakeDensityHost, *DensityPlan) {},
			want:  DensityStopMax, steps: 4, started: 4, within: 4,
			detail: "reached the maximum of 4 VMs",
		},
		{
			name: "create time past the factor stops and names it",
			setup: func(f *fakeDensityHost, _ *DensityPlan) {
				f.create = func(n int) time.Duration { return []time.Duration{0, 1000, 1500, 2100, 2200}[n] * time.Millisecond }
			},
			want: DensityStopDegraded, steps: 3, started: 3, within: 2, metrics: []string{DensityMetricCreate},
			detail: "with 3 VMs: create time 2.1s > 2.0 × 1s (1 VM)",
		},
		{
			name: "create time exactly at the factor is still within",
			setup: func(f *fakeDensityHost, p *DensityPlan) {
				f.create = func(n int) time.Duration { return time.Duration(n) * time.Second }
				p.Max = 2
			},
			want: DensityStopMax, steps: 2, started: 2, within: 2,
		},
		{
			name: "ping p99 growing with the VM count stops",
			setup: func(f *fakeDensityHost, _ *DensityPlan) {
				f.ping = func(_, running int) time.Duration { return time.Duration(running*running) * time.Millisecond }
			},
			want: DensityStopDegraded, steps: 2, started: 2, within: 1, metrics: []string{DensityMetricPingP99},
			detail: "with 2 VMs: ping p99 4ms > 2.0 × 1ms (1 VM)",
		},
		{
			name: "both figures degraded are both named",
			setup: func(f *fakeDensityHost, _ *DensityPlan) {
				f.create = func(n int) time.Duration { return time.Duration(n*n) * time.Second }
				f.ping = func(_, running int) time.Duration { return time.Duration(running*running) * time.Millisecond }
			},
			want: DensityStopDegraded, steps: 2, started: 2, within: 1, metrics: []string{DensityMetricCreate, DensityMetricPingP99},
		},
		{
			name: "memory guard stops before the VM that would eat the reserve",
			setup: func(f *fakeDensityHost, p *DensityPlan) {
				// Each VM is reckoned at 256+96 = 352 MiB: room for 3.
				p.Max = 10
				f.perVM = 352 * densityMiB
				f.avail0 = uint64(p.ReserveMiB)*densityMiB + 3*352*densityMiB + 100*densityMiB
			},
			want: DensityStopMemory, steps: 3, started: 3, within: 3,
			detail: "VM 4 would need ~352 MiB; the host has 1124 MiB available and keeps 1024 MiB in reserve",
		},
		{
			name: "memory guard reckons with measured RSS when it exceeds the guest size",
			setup: func(f *fakeDensityHost, p *DensityPlan) {
				p.Max = 10
				f.rss = func(int) uint64 { return 600 * densityMiB }
				f.perVM = 600 * densityMiB
				f.avail0 = uint64(p.ReserveMiB)*densityMiB + 2*600*densityMiB + 500*densityMiB
			},
			want: DensityStopMemory, steps: 2, started: 2, within: 2,
			detail: "VM 3 would need ~600 MiB; the host has 1524 MiB available and keeps 1024 MiB in reserve",
		},
		{
			name: "memory guard can refuse the very first VM",
			setup: func(f *fakeDensityHost, p *DensityPlan) {
				f.avail0 = uint64(p.ReserveMiB) * densityMiB
			},
			want: DensityStopMemory, steps: 0, started: 0, within: 0,
		},
		{
			name: "a failed create stops with its error",
			setup: func(f *fakeDensityHost, _ *DensityPlan) {
				f.failStart = map[int]error{3: errBoom}
			},
			want: DensityStopCreateFailed, steps: 2, started: 3, within: 2,
			detail: "starting VM 3 (vm-3) failed: libvirt said no",
		},
		{
			name: "a VM whose agent stops answering ends the run",
			setup: func(f *fakeDensityHost, _ *DensityPlan) {
				f.failPing = map[int]error{2: errBoom}
			},
			want: DensityStopPingFailed, steps: 2, started: 2, within: 1,
			detail: "with 2 VMs: ping vm-1: libvirt said no",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDensityHost(t)
			plan := densityTestPlan()
			tt.setup(f, &plan)
			res, err := Density(context.Background(), f.env(), plan)
			if err != nil {
				t.Fatalf("Density: %v", err)
			}
			if res.Stop.Reason != tt.want {
				t.Fatalf("stop = %+v, want %s", res.Stop, tt.want)
			}
			if tt.detail != "" && res.Stop.Detail != tt.detail {
				t.Errorf("detail = %q, want %q", res.Stop.Detail, tt.detail)
			}
			if !reflect.DeepEqual(res.Stop.Metrics, tt.metrics) {
				t.Errorf("metrics = %v, want %v", res.Stop.Metrics, tt.metrics)
			}
			if len(res.Steps) != tt.steps || len(f.started) != tt.started || res.Within != tt.within || res.Reached != tt.steps {
				t.Errorf("steps %d started %d within %d reached %d; want %d, %d, %d, %d",
					len(res.Steps), len(f.started), res.Within, res.Reached, tt.steps, tt.started, tt.within, tt.steps)
			}
			for i, s := range res.Steps {
				if s.VMs != i+1 || len(s.PerVM) != i+1 {
					t.Errorf("step %d: VMs %d with %d per-VM rows", i, s.VMs, len(s.PerVM))
				}
			}
			assertAllRemoved(t, f)
		})
	}
}

// assertAllRemoved checks that every VM Start was called for, including
// failed ones, was removed exactly once, newest first, on a live context.
func assertAllRemoved(t *testing.T, f *fakeDensityHost) {
	t.Helper()
	want := make([]string, 0, len(f.started))
	for i := len(f.started) - 1; i >= 0; i-- {
		want = append(want, f.started[i])
	}
	if !reflect.DeepEqual(f.removed, want) && !(len(want) == 0 && len(f.removed) == 0) {
		t.Errorf("removed %v, want %v", f.removed, want)
	}
	for i, ok := range f.removeOK {
		if !ok {
			t.Errorf("%s removed with a cancelled context", f.removed[i])
		}
	}
	if len(f.vms) != 0 {
		t.Errorf("VMs left: %v", f.vms)
	}
}

func TestDensityArithmetic(t *testing.T) {
	f := newFakeDensityHost(t)
	f.create = func(n int) time.Duration { return time.Duration(n) * 900 * time.Millisecond }
	// Pings to VM 1 take 1 ms, to VM 2 take 2 ms.
	f.ping = func(vm, _ int) time.Duration { return time.Duration(vm) * time.Millisecond }
	f.cpuRate = func(vm int) float64 { return []float64{0, 0.01, 0.03}[vm] }
	f.rss = func(vm int) uint64 { return []uint64{0, 200 * densityMiB, 220 * densityMiB}[vm] }
	f.pss = func(vm int) uint64 { return []uint64{0, 100 * densityMiB, 140 * densityMiB}[vm] }
	f.avail0, f.perVM = 10<<30, 250*densityMiB
	plan := densityTestPlan()
	plan.Max, plan.Pings, plan.Degrade = 2, 4, 10

	var progress []int
	env := f.env()
	env.Progress = func(s DensityStep) { progress = append(progress, s.VMs) }
	res, err := Density(context.Background(), env, plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.HostAvailableStart != 10<<30 {
		t.Errorf("host available at start = %d", res.HostAvailableStart)
	}
	if !reflect.DeepEqual(progress, []int{1, 2}) {
		t.Errorf("progress saw %v", progress)
	}
	one, two := res.Steps[0], res.Steps[1]

	if one.Create != 900*time.Millisecond || two.Create != 1800*time.Millisecond {
		t.Errorf("create = %s, %s", one.Create, two.Create)
	}
	if one.NewVM != "vm-1" || two.NewVM != "vm-2" {
		t.Errorf("new VMs %s, %s", one.NewVM, two.NewVM)
	}
	// One VM: 4 pings of 1 ms. Two: 4 of 1 ms and 4 of 2 ms; nearest
	// rank puts p50 on the 4th (1 ms) and p99 on the 8th (2 ms).
	if one.Pings != 4 || one.Ping.P50 != time.Millisecond || one.Ping.P99 != time.Millisecond {
		t.Errorf("1 VM pings: %d, %+v", one.Pings, one.Ping)
	}
	if two.Pings != 8 || two.Ping.P50 != time.Millisecond || two.Ping.P99 != 2*time.Millisecond || two.Ping.Mean != 1500*time.Microsecond {
		t.Errorf("2 VM pings: %d, %+v", two.Pings, two.Ping)
	}

	if two.MeanRSS != 210*densityMiB || two.MeanPSS != 120*densityMiB {
		t.Errorf("mean RSS/PSS = %d/%d MiB, want 210/120", two.MeanRSS/densityMiB, two.MeanPSS/densityMiB)
	}
	if one.MeanRSS != 200*densityMiB || one.MeanPSS != 100*densityMiB {
		t.Errorf("1 VM RSS/PSS = %d/%d MiB", one.MeanRSS/densityMiB, one.MeanPSS/densityMiB)
	}
	if two.Window != plan.Settle {
		t.Errorf("cpu window %s, want the settle time %s", two.Window, plan.Settle)
	}
	near := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
	if !near(two.PerVM[0].CPU, 0.01) || !near(two.PerVM[1].CPU, 0.03) || !near(two.CPUTotal, 0.04) || !near(two.CPUPerVM, 0.02) {
		t.Errorf("cpu per VM %v total %v mean %v", []float64{two.PerVM[0].CPU, two.PerVM[1].CPU}, two.CPUTotal, two.CPUPerVM)
	}
	if two.PerVM[1].PID != 1002 || two.PerVM[1].Name != "vm-2" || two.PerVM[1].RSS != 220*densityMiB {
		t.Errorf("per-VM row %+v", two.PerVM[1])
	}
	if one.HostAvailable != 10<<30-250*densityMiB || two.HostAvailable != 10<<30-500*densityMiB {
		t.Errorf("host available %d, %d MiB", one.HostAvailable/densityMiB, two.HostAvailable/densityMiB)
	}
	if res.Duration <= 0 {
		t.Errorf("duration %s", res.Duration)
	}
}

func TestDensityCancelRemovesEveryVM(t *testing.T) {
	tests := []struct {
		name string
		// cancelAt is the Start call that sees Ctrl-C; inWait cancels
		// in the idle window of the step instead.
		cancelAt int
		inWait   bool
		steps    int
	}{
		{name: "during a create", cancelAt: 3, steps: 2},
		{name: "during the idle window", cancelAt: 2, inWait: true, steps: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDensityHost(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			env := f.env()
			if tt.inWait {
				wait := env.Wait
				env.Wait = func(c context.Context, d time.Duration) error {
					if len(f.started) == tt.cancelAt {
						cancel()
					}
					return wait(c, d)
				}
			} else {
				f.onStart = func(n int) {
					if n == tt.cancelAt {
						cancel()
					}
				}
			}
			res, err := Density(ctx, env, densityTestPlan())
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if res == nil || res.Stop.Reason != DensityStopCanceled || len(res.Steps) != tt.steps {
				t.Fatalf("result %+v, want %d steps and a cancelled stop", res, tt.steps)
			}
			assertAllRemoved(t, f)
		})
	}
}

type failingRemove struct {
	*fakeDensityHost
	err error
}

func (f failingRemove) Remove(ctx context.Context, name string) error {
	f.fakeDensityHost.Remove(ctx, name)
	return f.err
}

func TestDensityReportsFailedRemovals(t *testing.T) {
	f := newFakeDensityHost(t)
	errStuck := errors.New("domain stuck")
	env := f.env()
	env.VMs = failingRemove{f, errStuck}
	plan := densityTestPlan()
	plan.Max = 2
	res, err := Density(context.Background(), env, plan)
	if !errors.Is(err, errStuck) {
		t.Fatalf("err = %v, want the removal error", err)
	}
	if res.Stop.Reason != DensityStopMax || len(f.removed) != 2 {
		t.Errorf("stop %s, removed %v", res.Stop.Reason, f.removed)
	}
}

func TestDensityPlanValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*DensityPlan)
		ok     bool
	}{
		{"default", func(*DensityPlan) {}, true},
		{"no VMs", func(p *DensityPlan) { p.Max = 0 }, false},
		{"no idle window", func(p *DensityPlan) { p.Settle = 0 }, false},
		{"no pings", func(p *DensityPlan) { p.Pings = 0 }, false},
		{"factor 1 would stop on noise", func(p *DensityPlan) { p.Degrade = 1 }, false},
		{"negative reserve", func(p *DensityPlan) { p.ReserveMiB = -1 }, false},
		{"no guest memory", func(p *DensityPlan) { p.GuestMiB = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultDensityPlan()
			tt.change(&p)
			if err := p.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				if _, err := Density(context.Background(), newFakeDensityHost(t).env(), p); err == nil {
					t.Fatal("Density ran an invalid plan")
				}
			}
		})
	}
}
