package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
)

// ParallelVMs is the VM side of a parallel-start run: one host's VMs,
// addressed by name. Unlike DensityVMs, calls are concurrent.
type ParallelVMs interface {
	// Start creates the VM with the run's shape and returns once its agent
	// answers. A failed Start leaves nothing behind.
	Start(ctx context.Context, name string) error
	// CPUTime is the VM's QEMU process's cumulative user+system time.
	CPUTime(ctx context.Context, name string) (time.Duration, error)
	// Remove deletes the VM and all it holds; a VM that does not exist is
	// not an error.
	Remove(ctx context.Context, name string) error
}

// ParallelPlan is what a parallel-start run does.
type ParallelPlan struct {
	// Counts are the numbers of VMs started at once, in the order run. The
	// single boot (1) is always measured first: it is the reference.
	Counts []int `json:"counts"`
	// Rounds is how often each count is repeated; the step reports the
	// median round.
	Rounds int `json:"rounds"`
	// Cores is the host CPUs the boots share: the CPU-bound limit divides
	// by it.
	Cores int `json:"cores"`
	// GuestMiB is each VM's memory, for the memory check.
	GuestMiB int `json:"guest_mib"`
	// ReserveMiB is host memory the largest count must leave available.
	ReserveMiB int `json:"reserve_mib"`
}

// DefaultParallelPlan is the CLI's default (Cores comes from the host).
func DefaultParallelPlan() ParallelPlan {
	return ParallelPlan{Counts: []int{1, 2, 4, 8}, Rounds: 1, GuestMiB: 256, ReserveMiB: 1024}
}

// MaxParallel bounds one count: far beyond what a host boots at once, and a
// typo guard.
const MaxParallel = 256

// Validate checks the plan and normalises Counts: sorted, without
// duplicates, starting with 1.
func (p *ParallelPlan) Validate() error {
	if len(p.Counts) == 0 {
		return errors.New("parallel: no counts: give at least one number of VMs to start at once")
	}
	for _, n := range p.Counts {
		if n < 1 || n > MaxParallel {
			return fmt.Errorf("parallel: count %d: use 1..%d VMs at once", n, MaxParallel)
		}
	}
	switch {
	case p.Rounds < 1:
		return fmt.Errorf("parallel: rounds %d: run each count at least once", p.Rounds)
	case p.Cores < 1:
		return fmt.Errorf("parallel: %d host cores: the CPU-bound limit needs at least 1", p.Cores)
	case p.GuestMiB < 1:
		return fmt.Errorf("parallel: guest memory %d MiB must be positive", p.GuestMiB)
	case p.ReserveMiB < 0:
		return fmt.Errorf("parallel: memory reserve %d MiB must not be negative", p.ReserveMiB)
	}
	counts := append([]int{1}, p.Counts...)
	sort.Ints(counts)
	p.Counts = slices.Compact(counts)
	return nil
}

// ParallelEnv holds a parallel-start run's collaborators.
type ParallelEnv struct {
	VMs ParallelVMs
	// Name names VM i (from 1) of a round that starts n VMs.
	Name func(n, round, i int) string
	// MemAvailable is the host's available memory in bytes (nil: not
	// checked).
	MemAvailable func() (uint64, error)
	// DaemonCPU, if set, is the cumulative CPU time of the processes that
	// create VMs besides QEMU (libvirtd, virtlogd): their part of a boot
	// is CPU work the boot needs too.
	DaemonCPU func() (time.Duration, error)
	// Progress, if set, sees each step as it is measured.
	Progress func(ParallelStep)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RemoveTimeout bounds each VM's removal, which runs even after ctx is
	// cancelled (default DefaultDensityRemoveTimeout).
	RemoveTimeout time.Duration
}

// ParallelRound is one start of N VMs at once.
type ParallelRound struct {
	// Ready is each VM's time from the common start to its agent's answer,
	// in VM order.
	Ready []time.Duration `json:"ready_ns"`
	// AllReady is the slowest of them: when the last VM answered.
	AllReady time.Duration `json:"all_ready_ns"`
	// QEMUCPU is the QEMU processes' CPU time summed over the N VMs, each
	// read when its VM became ready.
	QEMUCPU time.Duration `json:"qemu_cpu_ns"`
	// DaemonCPU is what the daemons used from the start until the last VM
	// was ready (zero when not measured).
	DaemonCPU time.Duration `json:"daemon_cpu_ns"`
	// CPU is QEMUCPU + DaemonCPU: what the boots cost the host's cores.
	CPU time.Duration `json:"cpu_ns"`
}

// ParallelStep is the result for one count.
type ParallelStep struct {
	N      int             `json:"n"`
	Rounds []ParallelRound `json:"rounds"`
	// AllReady and the CPU times are the median round's (by AllReady).
	AllReady  time.Duration `json:"all_ready_ns"`
	QEMUCPU   time.Duration `json:"qemu_cpu_ns"`
	DaemonCPU time.Duration `json:"daemon_cpu_ns"`
	CPU       time.Duration `json:"cpu_ns"`
	// ReadyP50 is the median VM's ready time over every round.
	ReadyP50 time.Duration `json:"ready_p50_ns"`
	// CPUPerBoot is CPU / N: above the single boot's, contention made each
	// boot cost more.
	CPUPerBoot time.Duration `json:"cpu_per_boot_ns"`
	// CPULimit is the CPU-bound limit N × (single-boot CPU, QEMU and
	// daemons) / cores: no scheduler can have N boots ready sooner on this
	// many cores.
	CPULimit time.Duration `json:"cpu_limit_ns"`
	// Ratio is AllReady / CPULimit. Near 1, parallel starts are as fast as
	// the CPUs allow; well above it, something serialises them or they
	// wait for something other than CPU. Below N = cores a single boot's
	// own wall time is the floor, so small counts sit above 1 by design.
	Ratio float64 `json:"ratio"`
}

// ParallelResult is everything one parallel-start run measured.
type ParallelResult struct {
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	// Host and Shape are filled in by the caller, which knows them.
	Host  Host         `json:"host"`
	Shape Shape        `json:"shape"`
	Plan  ParallelPlan `json:"plan"`
	// SingleWall and SingleCPU are the single boot's (the N = 1 step),
	// the reference every limit is computed from.
	SingleWall time.Duration  `json:"single_wall_ns"`
	SingleCPU  time.Duration  `json:"single_cpu_ns"`
	Steps      []ParallelStep `json:"steps"`
	// Notes say what the caller changed to make the run possible.
	Notes []string `json:"notes,omitempty"`
}

// Step returns the step for n, or nil.
func (r *ParallelResult) Step(n int) *ParallelStep {
	for i := range r.Steps {
		if r.Steps[i].N == n {
			return &r.Steps[i]
		}
	}
	return nil
}

// CPUBoundLimit is the soonest n boots that each need single of CPU time
// can all be done on cores CPUs: n × single / cores.
func CPUBoundLimit(n int, single time.Duration, cores int) time.Duration {
	if n < 1 || cores < 1 {
		return 0
	}
	return time.Duration(float64(n) * float64(single) / float64(cores))
}

// summarizeParallel reduces the rounds of one count against the single
// boot's CPU time.
func summarizeParallel(n, cores int, singleCPU time.Duration, rounds []ParallelRound) ParallelStep {
	s := ParallelStep{N: n, Rounds: rounds}
	if len(rounds) == 0 {
		return s
	}
	byWall := append([]ParallelRound(nil), rounds...)
	sort.SliceStable(byWall, func(i, j int) bool { return byWall[i].AllReady < byWall[j].AllReady })
	med := byWall[(len(byWall)-1)/2]
	s.AllReady, s.QEMUCPU, s.DaemonCPU, s.CPU = med.AllReady, med.QEMUCPU, med.DaemonCPU, med.CPU
	var all []time.Duration
	for _, r := range rounds {
		all = append(all, r.Ready...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) > 0 {
		s.ReadyP50 = all[(len(all)-1)/2]
	}
	s.CPUPerBoot = s.CPU / time.Duration(n)
	s.CPULimit = CPUBoundLimit(n, singleCPU, cores)
	if s.CPULimit > 0 {
		s.Ratio = float64(s.AllReady) / float64(s.CPULimit)
	}
	return s
}

// parallelOverheadMiB is what one QEMU process holds beyond guest memory,
// for the memory check (as for density).
const parallelOverheadMiB = densityQEMUOverheadMiB

// Parallel starts, for each count N of the plan, N VMs at the same instant
// and measures when each answers and the CPU their QEMU processes used,
// then removes them before the next round. The single boot comes first
// and is the reference for every step's CPU-bound limit. Every VM it
// started is removed before it returns, also when ctx is cancelled or a
// start fails (the run then ends with that error and the steps it took).
func Parallel(ctx context.Context, env ParallelEnv, plan ParallelPlan) (res *ParallelResult, err error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	if env.VMs == nil || env.Name == nil {
		return nil, errors.New("parallel: VMs and Name are required")
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.RemoveTimeout <= 0 {
		env.RemoveTimeout = DefaultDensityRemoveTimeout
	}
	if env.MemAvailable != nil {
		most := plan.Counts[len(plan.Counts)-1]
		avail, err := env.MemAvailable()
		if err != nil {
			return nil, fmt.Errorf("parallel: %w", err)
		}
		need := uint64(most) * uint64(plan.GuestMiB+parallelOverheadMiB) << 20
		if avail < need+uint64(plan.ReserveMiB)<<20 {
			return nil, fmt.Errorf("parallel: %d VMs at once need ~%d MiB; the host has %d MiB available and keeps %d MiB in reserve: use smaller counts or --memory",
				most, need>>20, avail>>20, plan.ReserveMiB)
		}
	}
	res = &ParallelResult{Started: env.Now(), Plan: plan}
	defer func() { res.Duration = env.Now().Sub(res.Started) }()
	// VMs that could not be removed are named at the end; the run goes on.
	var left []hypervisor.Leftover
	for _, n := range plan.Counts {
		var rounds []ParallelRound
		for r := 1; r <= plan.Rounds; r++ {
			if err := ctx.Err(); err != nil {
				return res, errors.Join(fmt.Errorf("parallel: %w", err), hypervisor.JoinLeftovers(left))
			}
			round, err := parallelRound(ctx, env, n, r)
			if hypervisor.OnlyLeftBehind(err) {
				left = append(left, hypervisor.Leftovers(err)...)
			} else if err != nil {
				return res, errors.Join(fmt.Errorf("parallel: %d at once, round %d: %w", n, r, err), hypervisor.JoinLeftovers(left))
			}
			rounds = append(rounds, round)
		}
		if n == 1 {
			single := summarizeParallel(1, plan.Cores, 0, rounds)
			res.SingleWall, res.SingleCPU = single.AllReady, single.CPU
		}
		step := summarizeParallel(n, plan.Cores, res.SingleCPU, rounds)
		res.Steps = append(res.Steps, step)
		if env.Progress != nil {
			env.Progress(step)
		}
	}
	return res, hypervisor.JoinLeftovers(left)
}

// parallelRound starts n VMs together, waits for all of them and removes
// them (concurrently, on a context that outlives ctx).
func parallelRound(ctx context.Context, env ParallelEnv, n, round int) (ParallelRound, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = env.Name(n, round, i+1)
	}
	out := ParallelRound{Ready: make([]time.Duration, n)}
	cpu := make([]time.Duration, n)
	errs := make([]error, n)
	var daemon0 time.Duration
	if env.DaemonCPU != nil {
		var err error
		if daemon0, err = env.DaemonCPU(); err != nil {
			return out, fmt.Errorf("daemon cpu time: %w", err)
		}
	}
	var wg sync.WaitGroup
	start := env.Now()
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := env.VMs.Start(ctx, name); err != nil {
				errs[i] = fmt.Errorf("start %s: %w", name, err)
				return
			}
			out.Ready[i] = env.Now().Sub(start)
			t, err := env.VMs.CPUTime(ctx, name)
			if err != nil {
				errs[i] = fmt.Errorf("cpu time of %s: %w", name, err)
				return
			}
			cpu[i] = t
		}()
	}
	wg.Wait()
	err := errors.Join(errs...)
	if env.DaemonCPU != nil && err == nil {
		daemon1, derr := env.DaemonCPU()
		if derr != nil {
			err = fmt.Errorf("daemon cpu time: %w", derr)
		}
		out.DaemonCPU = daemon1 - daemon0
	}
	if rerr := removeParallel(ctx, env, names); rerr != nil {
		err = errors.Join(err, rerr)
	}
	// VMs that could not be removed do not spoil the round's figures.
	if err != nil && !hypervisor.OnlyLeftBehind(err) {
		return out, err
	}
	for i := range names {
		out.AllReady = max(out.AllReady, out.Ready[i])
		out.QEMUCPU += cpu[i]
	}
	out.CPU = out.QEMUCPU + out.DaemonCPU
	return out, err
}

func removeParallel(ctx context.Context, env ParallelEnv, names []string) error {
	base := context.WithoutCancel(ctx)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(base, env.RemoveTimeout)
			defer cancel()
			if err := env.VMs.Remove(rctx, name); err != nil {
				errs[i] = fmt.Errorf("remove %s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
