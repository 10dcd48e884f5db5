package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vmctl/vmctl/jobs"
)

// DensityVMs is the VM side of a density run: one host's VMs, addressed by
// name. Calls are never concurrent.
type DensityVMs interface {
	// Start creates the VM with the run's shape and returns once its agent
	// answers. A failed Start leaves nothing behind.
	Start(ctx context.Context, name string) error
	// PID is the VM's QEMU process on this host.
	PID(ctx context.Context, name string) (int, error)
	// Ping is one agent round trip.
	Ping(ctx context.Context, name string) error
	// Remove deletes the VM and all it holds. Removing a VM that does not
	// exist (e.g. one whose Start failed) is not an error.
	Remove(ctx context.Context, name string) error
}

// HostProc reads this host's processes and memory (ProcFS in production).
type HostProc interface {
	Memory(pid int) (ProcMemory, error)
	// CPUTime is the process's cumulative user+system time.
	CPUTime(pid int) (time.Duration, error)
	// MemAvailable is the host memory available for new work, in bytes.
	MemAvailable() (uint64, error)
}

// DensityPlan is what a density run does and when it stops.
type DensityPlan struct {
	// Max is the most VMs started.
	Max int `json:"max"`
	// Settle is the idle window over which QEMU's host CPU is measured,
	// after each VM becomes ready and before memory and pings are taken.
	Settle time.Duration `json:"settle_ns"`
	// Pings is the number of agent pings sent to every running VM at
	// each step.
	Pings int `json:"pings_per_vm"`
	// Degrade stops the run once create time or ping p99 exceeds Degrade
	// times its value with one VM.
	Degrade float64 `json:"degrade"`
	// ReserveMiB is host memory the run never eats into: it stops before
	// one more VM would leave less than this available.
	ReserveMiB int `json:"reserve_mib"`
	// GuestMiB is each VM's memory, for the memory guard's estimate.
	GuestMiB int `json:"guest_mib"`
}

// DefaultDensityPlan is the CLI's default.
func DefaultDensityPlan() DensityPlan {
	return DensityPlan{Max: 8, Settle: 5 * time.Second, Pings: 20, Degrade: 2, ReserveMiB: 1024, GuestMiB: 256}
}

// Validate checks the plan.
func (p DensityPlan) Validate() error {
	switch {
	case p.Max < 1:
		return fmt.Errorf("density: max %d: start at least 1 VM", p.Max)
	case p.Settle <= 0:
		return fmt.Errorf("density: settle %s: the idle CPU window must be positive", p.Settle)
	case p.Pings < 1:
		return fmt.Errorf("density: pings %d: at least 1 ping per VM is needed for the round trip", p.Pings)
	case !(p.Degrade > 1):
		return fmt.Errorf("density: degrade factor %g must be above 1 (2 = stop at twice the 1-VM figure)", p.Degrade)
	case p.ReserveMiB < 0:
		return fmt.Errorf("density: memory reserve %d MiB must not be negative", p.ReserveMiB)
	case p.GuestMiB < 1:
		return fmt.Errorf("density: guest memory %d MiB must be positive", p.GuestMiB)
	}
	return nil
}

// densityQEMUOverheadMiB is what one QEMU process holds beyond guest memory
// (~80-90 MiB measured for idle TCG guests), for the memory guard before
// any VM was measured.
const densityQEMUOverheadMiB = 96

// DefaultDensityRemoveTimeout bounds the removal of each VM at the end.
const DefaultDensityRemoveTimeout = time.Minute

// DensityEnv holds a density run's collaborators.
type DensityEnv struct {
	VMs  DensityVMs
	Proc HostProc
	// Name names the i-th VM (from 1).
	Name func(i int) string
	// Progress, if set, sees each step as it is measured.
	Progress func(DensityStep)
	// Now and Wait are the clock (default: time.Now and a timer that
	// ends early with ctx).
	Now  func() time.Time
	Wait func(ctx context.Context, d time.Duration) error
	// RemoveTimeout bounds each VM's removal at the end, which runs even
	// after ctx is cancelled (default DefaultDensityRemoveTimeout).
	RemoveTimeout time.Duration
}

func (e DensityEnv) withDefaults() (DensityEnv, error) {
	if e.VMs == nil || e.Proc == nil || e.Name == nil {
		return e, errors.New("density: VMs, Proc and Name are required")
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Wait == nil {
		e.Wait = densityWait
	}
	if e.RemoveTimeout <= 0 {
		e.RemoveTimeout = DefaultDensityRemoveTimeout
	}
	return e, nil
}

func densityWait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// densityVM is a running VM and its QEMU process.
type densityVM struct {
	name string
	pid  int
}

// Density starts idle VMs one after another and measures, after each one is
// ready, its create time, the agent round trip to all of them, and the host
// memory and idle CPU of every QEMU process. It stops at plan.Max VMs, when
// a figure degrades past the threshold, before the memory guard would be
// crossed, or when a VM fails to start; Stop says which. Every VM it
// started is removed before it returns, also when ctx is cancelled.
//
// The result is non-nil whenever the plan was valid: a run that ends in an
// error (cancellation, unreadable /proc) still reports the steps it took.
func Density(ctx context.Context, env DensityEnv, plan DensityPlan) (res *DensityResult, err error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	env, err = env.withDefaults()
	if err != nil {
		return nil, err
	}
	res = &DensityResult{Started: env.Now(), Plan: plan}
	var attempted []string
	defer func() {
		if rerr := removeDensityVMs(ctx, env, attempted); rerr != nil {
			err = errors.Join(err, rerr)
		}
		res.Duration = env.Now().Sub(res.Started)
	}()
	fail := func(reason DensityStopReason, err error) (*DensityResult, error) {
		res.Stop = DensityStop{Reason: reason, Detail: err.Error()}
		return res, err
	}

	if res.HostAvailableStart, err = env.Proc.MemAvailable(); err != nil {
		return fail(DensityStopError, err)
	}
	var running []densityVM
	for n := 1; n <= plan.Max; n++ {
		if err := ctx.Err(); err != nil {
			return fail(DensityStopCanceled, fmt.Errorf("density: %w", err))
		}
		if stop, err := memoryGuard(env.Proc, plan, res.Steps, n); err != nil {
			return fail(DensityStopError, err)
		} else if stop != nil {
			res.Stop = *stop
			return res, nil
		}

		name := env.Name(n)
		attempted = append(attempted, name)
		t0 := env.Now()
		if err := env.VMs.Start(ctx, name); err != nil {
			if ctx.Err() != nil {
				return fail(DensityStopCanceled, fmt.Errorf("density: start %s: %w", name, err))
			}
			res.Stop = DensityStop{Reason: DensityStopCreateFailed, Detail: fmt.Sprintf("starting VM %d (%s) failed: %v", n, name, err)}
			return res, nil
		}
		create := env.Now().Sub(t0)
		pid, err := env.VMs.PID(ctx, name)
		if err != nil {
			return fail(DensityStopError, fmt.Errorf("density: %w", err))
		}
		running = append(running, densityVM{name: name, pid: pid})

		step, err := measureIdle(ctx, env, plan, running)
		if err != nil {
			if ctx.Err() != nil {
				return fail(DensityStopCanceled, fmt.Errorf("density: %w", err))
			}
			return fail(DensityStopError, fmt.Errorf("density: %w", err))
		}
		step.VMs, step.NewVM, step.Create = n, name, create
		if err := measurePings(ctx, env, plan, running, &step); err != nil {
			if ctx.Err() != nil {
				return fail(DensityStopCanceled, fmt.Errorf("density: %w", err))
			}
			res.Steps, res.Reached = append(res.Steps, step), n
			res.Stop = DensityStop{Reason: DensityStopPingFailed, Detail: fmt.Sprintf("with %d VMs: %v", n, err)}
			return res, nil
		}
		if step.HostAvailable, err = env.Proc.MemAvailable(); err != nil {
			return fail(DensityStopError, err)
		}
		res.Steps, res.Reached = append(res.Steps, step), n
		if env.Progress != nil {
			env.Progress(step)
		}
		if stop := degraded(res.Steps[0], step, plan.Degrade); stop != nil {
			res.Stop = *stop
			return res, nil
		}
		res.Within = n
	}
	res.Stop = DensityStop{Reason: DensityStopMax, Detail: fmt.Sprintf("reached the maximum of %d VMs", plan.Max)}
	return res, nil
}

// memoryGuard stops the run before VM n when starting it could leave less
// than the reserve available. A VM is reckoned at its guest memory plus
// QEMU's own overhead, or at the mean RSS measured so far if that is more:
// an idle guest touches little of its memory, but nothing stops it from
// touching all of it later.
func memoryGuard(proc HostProc, plan DensityPlan, steps []DensityStep, n int) (*DensityStop, error) {
	avail, err := proc.MemAvailable()
	if err != nil {
		return nil, err
	}
	need := uint64(plan.GuestMiB+densityQEMUOverheadMiB) << 20
	if len(steps) > 0 {
		need = max(need, steps[len(steps)-1].MeanRSS)
	}
	reserve := uint64(plan.ReserveMiB) << 20
	if avail >= need+reserve {
		return nil, nil
	}
	return &DensityStop{Reason: DensityStopMemory, Detail: fmt.Sprintf(
		"VM %d would need ~%d MiB; the host has %d MiB available and keeps %d MiB in reserve",
		n, need>>20, avail>>20, plan.ReserveMiB)}, nil
}

// measureIdle takes every running QEMU process's CPU time across the settle
// window, then its memory.
func measureIdle(ctx context.Context, env DensityEnv, plan DensityPlan, running []densityVM) (DensityStep, error) {
	step := DensityStep{PerVM: make([]DensityVM, len(running))}
	before := make([]time.Duration, len(running))
	for i, vm := range running {
		t, err := env.Proc.CPUTime(vm.pid)
		if err != nil {
			return step, fmt.Errorf("%s: %w", vm.name, err)
		}
		before[i] = t
	}
	t0 := env.Now()
	if err := env.Wait(ctx, plan.Settle); err != nil {
		return step, fmt.Errorf("idle window: %w", err)
	}
	step.Window = env.Now().Sub(t0)
	var rss, pss uint64
	for i, vm := range running {
		t, err := env.Proc.CPUTime(vm.pid)
		if err != nil {
			return step, fmt.Errorf("%s: %w", vm.name, err)
		}
		mem, err := env.Proc.Memory(vm.pid)
		if err != nil {
			return step, fmt.Errorf("%s: %w", vm.name, err)
		}
		cpu := 0.0
		if step.Window > 0 {
			cpu = float64(t-before[i]) / float64(step.Window)
		}
		step.PerVM[i] = DensityVM{Name: vm.name, PID: vm.pid, ProcMemory: mem, CPU: cpu}
		rss, pss, step.CPUTotal = rss+mem.RSS, pss+mem.PSS, step.CPUTotal+cpu
	}
	n := uint64(len(running))
	step.MeanRSS, step.MeanPSS = rss/n, pss/n
	step.CPUPerVM = step.CPUTotal / float64(n)
	return step, nil
}

// measurePings sends plan.Pings rounds of one ping to each running VM, one
// at a time so each round trip is latency, not queueing behind our own
// pings.
func measurePings(ctx context.Context, env DensityEnv, plan DensityPlan, running []densityVM, step *DensityStep) error {
	rtts := make([]time.Duration, 0, plan.Pings*len(running))
	for range plan.Pings {
		for _, vm := range running {
			t0 := env.Now()
			if err := env.VMs.Ping(ctx, vm.name); err != nil {
				return fmt.Errorf("ping %s: %w", vm.name, err)
			}
			rtts = append(rtts, env.Now().Sub(t0))
		}
	}
	step.Pings = len(rtts)
	step.Ping = jobs.PercentilesOf(rtts)
	return nil
}

// degraded compares a step with the first (one VM) and names every figure
// past factor times its first value.
func degraded(first, step DensityStep, factor float64) *DensityStop {
	var metrics, why []string
	check := func(metric, label string, base, now time.Duration) {
		if base > 0 && float64(now) > factor*float64(base) {
			metrics = append(metrics, metric)
			why = append(why, fmt.Sprintf("%s %s > %.1f × %s (1 VM)", label, roundDur(now), factor, roundDur(base)))
		}
	}
	check(DensityMetricCreate, "create time", first.Create, step.Create)
	check(DensityMetricPingP99, "ping p99", first.Ping.P99, step.Ping.P99)
	if len(metrics) == 0 {
		return nil
	}
	return &DensityStop{Reason: DensityStopDegraded, Metrics: metrics,
		Detail: fmt.Sprintf("with %d VMs: %s", step.VMs, strings.Join(why, "; "))}
}

// roundDur keeps three significant-ish digits for messages.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// removeDensityVMs removes the VMs newest first. It runs on a context that
// outlives the caller's, so Ctrl-C never leaves a VM behind.
func removeDensityVMs(ctx context.Context, env DensityEnv, names []string) error {
	base := context.WithoutCancel(ctx)
	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		rctx, cancel := context.WithTimeout(base, env.RemoveTimeout)
		if err := env.VMs.Remove(rctx, names[i]); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", names[i], err))
		}
		cancel()
	}
	return errors.Join(errs...)
}
