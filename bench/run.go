package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/jobs"
)

// Variant is one VM shape to compare against native.
type Variant struct {
	Name  string
	Shape Shape
}

// Env is what a run needs from the outside: a native worker and VMs.
type Env struct {
	Native jobs.Provider
	// VM is the provider that boots a variant's VM.
	VM func(Variant) (jobs.Provider, error)
	// Accel reports the acceleration a started VM got and why.
	Accel func(ctx context.Context, w *jobs.Worker) (mode, reason string, err error)
	// Name names the VM of the i-th variant.
	Name func(i int) string
	// RunTimeout bounds one run of a workload.
	RunTimeout time.Duration
}

// workerSides runs on a native worker and a VM worker.
type workerSides struct {
	native, vm *jobs.Worker
	timeout    time.Duration
}

func (s workerSides) Run(ctx context.Context, side Side, wl Workload) (float64, string, time.Duration, error) {
	if side == Native {
		return RunOn(ctx, s.native, wl, false, s.timeout)
	}
	return RunOn(ctx, s.vm, wl, true, s.timeout)
}

// Overhead measures every workload on every variant within budget: each
// (workload, variant) gets an equal share of what is left when it starts,
// so time one finishes early goes to the rest. One VM per variant serves
// all workloads; its boot time is recorded. progress sees each pair.
//
// A VM that could not be removed does not end the run: the report is
// complete and the error (a *hypervisor.LeftBehind) names it.
func Overhead(ctx context.Context, env Env, wls []Workload, variants []Variant, plan Plan, budget time.Duration, progress func(Result)) (_ *Report, err error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	if budget <= 0 {
		return nil, fmt.Errorf("--budget %s: give the time the repetitions may take, e.g. 6m", budget)
	}
	rep := &Report{Version: ReportVersion, Started: time.Now(), Target: plan.Target, Budget: budget,
		MinPairs: plan.MinPairs, MaxPairs: plan.MaxPairs, Warmup: plan.Warmup}
	end := rep.Started.Add(budget)
	nw, err := env.Native.Start(ctx, "native")
	if err != nil {
		return nil, fmt.Errorf("native worker: %w", err)
	}
	defer func() { err = errors.Join(err, stopWorker(ctx, env.Native, nw)) }()
	var leftover error
	left := len(wls) * len(variants)
	for i, v := range variants {
		err := func() (err error) {
			prov, err := env.VM(v)
			if err != nil {
				return err
			}
			t0 := time.Now()
			vw, err := prov.Start(ctx, env.Name(i))
			if err != nil {
				return fmt.Errorf("variant %s: boot: %w", v.Name, err)
			}
			defer func() { err = errors.Join(err, stopWorker(ctx, prov, vw)) }()
			took := time.Since(t0)
			shape := v.Shape
			if shape.Accel, shape.AccelReason, err = env.Accel(ctx, vw); err != nil {
				return fmt.Errorf("variant %s: %w", v.Name, err)
			}
			rep.Boot = append(rep.Boot, BootSample{Variant: v.Name, Accel: shape.Accel, Took: took})
			sides := workerSides{native: nw, vm: vw, timeout: env.RunTimeout}
			for _, wl := range wls {
				deadline := time.Now().Add(time.Until(end) / time.Duration(max(1, left)))
				left--
				res, err := Measure(ctx, sides, wl, v.Name, shape, plan, deadline, progress)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", wl.Label(), v.Name, err)
				}
				rep.Results = append(rep.Results, res)
			}
			return nil
		}()
		if hypervisor.OnlyLeftBehind(err) {
			leftover = errors.Join(leftover, err)
		} else if err != nil {
			rep.Duration = time.Since(rep.Started)
			return rep, errors.Join(err, leftover)
		}
	}
	rep.Duration = time.Since(rep.Started)
	return rep, leftover
}

// stopWorker removes a worker even when ctx was cancelled (Ctrl-C). A
// worker that stays is named in the error.
func stopWorker(ctx context.Context, p jobs.Provider, w *jobs.Worker) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jobs.WorkerStopTimeout)
	defer cancel()
	if err := p.Stop(sctx, w); err != nil {
		if errors.Is(err, hypervisor.ErrLeftBehind) {
			return err
		}
		return hypervisor.JoinLeftovers([]hypervisor.Leftover{hypervisor.NewLeftover("worker", w.Host, w.Name, "",
			"see the error; `vmctl gc` lists what vmctl left", err)})
	}
	return nil
}
