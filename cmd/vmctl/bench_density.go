package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/bench"
	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/jobs"
	"github.com/vmctl/vmctl/scheduler"
)

func benchDensityCommand(log *logrus.Logger) *cli.Command {
	def := bench.DefaultDensityPlan()
	return &cli.Command{
		Name:  "density",
		Usage: "start idle VMs one after another on this host and measure create time, agent round trip, QEMU memory (RSS/PSS) and idle CPU at each count",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "max", Value: def.Max, Usage: "start at most `N` VMs"},
			&cli.IntFlag{Name: "vcpus", Value: 1},
			&cli.IntFlag{Name: "memory", Value: def.GuestMiB, Usage: "guest memory in `MiB`"},
			&cli.StringFlag{Name: "accel", Value: "auto", Usage: "auto, kvm or tcg"},
			&cli.DurationFlag{Name: "settle", Value: def.Settle, Usage: "idle `DURATION` over which QEMU's host CPU is measured after each VM is ready"},
			&cli.IntFlag{Name: "pings", Value: def.Pings, Usage: "agent pings to every running VM at each step"},
			&cli.Float64Flag{Name: "degrade", Value: def.Degrade, Usage: "stop when create time or ping p99 exceeds `FACTOR` × its value with 1 VM"},
			&cli.IntFlag{Name: "reserve", Value: def.ReserveMiB, Usage: "stop before one more VM would leave less than `MiB` of host memory available"},
			tbCacheFlag(),
		},
		Action: func(c *cli.Context) error {
			plan := bench.DensityPlan{Max: c.Int("max"), Settle: c.Duration("settle"), Pings: c.Int("pings"),
				Degrade: c.Float64("degrade"), ReserveMiB: c.Int("reserve"), GuestMiB: c.Int("memory")}
			if err := plan.Validate(); err != nil {
				return err
			}
			lv, err := openLocalBenchVMs(c, log, "density", plan.GuestMiB, plan.Max)
			if err != nil {
				return err
			}
			defer lv.close()
			vms, host, choice, note := lv.vms, lv.host, lv.choice, lv.note
			quiet := jsonOutput(c)
			env := bench.DensityEnv{
				VMs: vms, Proc: bench.ProcFS{Root: "/proc"},
				Name: func(i int) string { return fmt.Sprintf("vmctl-bench-density-%d-%d", os.Getpid(), i) },
				Progress: func(s bench.DensityStep) {
					if !quiet {
						fmt.Fprintf(os.Stderr, "%2d VMs: create %s, ping p99 %s ms, PSS %s MiB/VM, idle CPU %s%%/VM\n",
							s.VMs, s.Create.Round(time.Millisecond), msText(s.Ping.P99), mibText(s.MeanPSS), pctText(s.CPUPerVM))
					}
				},
			}
			if !quiet {
				fmt.Fprintf(os.Stderr, "starting up to %d VMs (%d vCPU, %d MiB, %s) on %s...\n", plan.Max, c.Int("vcpus"), plan.GuestMiB, choice.Mode, host.URI)
			}
			res, err := bench.Density(c.Context, env, plan)
			if res != nil {
				res.Host = host
				res.Shape = bench.Shape{VCPUs: c.Int("vcpus"), MemoryMiB: plan.GuestMiB, Accel: string(choice.Mode), AccelReason: choice.Reason}
				if note != "" {
					res.Notes = append(res.Notes, note)
				}
				var perr error
				if jsonOutput(c) {
					perr = writeJSON(os.Stdout, res)
				} else {
					perr = printDensity(res)
				}
				err = errors.Join(err, perr)
			}
			return err
		},
	}
}

// densityPolicy is the default placement policy with the vCPU overcommit
// ratio raised, if need be, to admit the VMs already on the host plus
// the run's: CPU overcommit is what the benchmark measures, so the
// scheduler's 4:1 default must not end the run as a "create failure".
func densityPolicy(ctx context.Context, fleet *scheduler.Fleet, cores, vcpus int) (scheduler.Policy, string, error) {
	pol := scheduler.DefaultPolicy()
	vms, err := fleet.List(ctx)
	if err != nil {
		return pol, "", err
	}
	for _, vm := range vms {
		vcpus += vm.VCPUs
	}
	if cores < 1 || float64(vcpus) <= pol.CPUAllocationRatio*float64(cores) {
		return pol, "", nil
	}
	pol.CPUAllocationRatio = float64(vcpus) / float64(cores)
	return pol, fmt.Sprintf("vCPU overcommit limit raised from %.1f to %.1f per host CPU to admit %d vCPUs on %d CPUs",
		scheduler.DefaultPolicy().CPUAllocationRatio, pol.CPUAllocationRatio, vcpus, cores), nil
}

// densityVMs starts the benchmark's VMs through the job machinery's VM
// provider (placement, claims, create, agent connection) on the one local
// host, and keeps each VM's agent client open for the pings. The parallel
// bench starts them concurrently, hence the lock.
type densityVMs struct {
	provider *jobs.VMProvider
	fleet    *scheduler.Fleet
	pidDir   string
	proc     bench.ProcFS

	mu      sync.Mutex
	workers map[string]*jobs.Worker
}

var (
	_ bench.DensityVMs  = (*densityVMs)(nil)
	_ bench.ParallelVMs = (*densityVMs)(nil)
)

func (d *densityVMs) Start(ctx context.Context, name string) error {
	w, err := d.provider.Start(ctx, name)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.workers[name] = w
	d.mu.Unlock()
	return nil
}

func (d *densityVMs) PID(_ context.Context, name string) (int, error) {
	return hypervisor.QEMUPid(d.pidDir, name)
}

// CPUTime is the QEMU process's user+system time over all its threads.
func (d *densityVMs) CPUTime(ctx context.Context, name string) (time.Duration, error) {
	pid, err := d.PID(ctx, name)
	if err != nil {
		return 0, err
	}
	return d.proc.CPUTime(pid)
}

func (d *densityVMs) Ping(ctx context.Context, name string) error {
	d.mu.Lock()
	w, ok := d.workers[name]
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("ping %s: %w", name, hypervisor.ErrNotFound)
	}
	return w.Client.Ping(ctx)
}

func (d *densityVMs) Remove(ctx context.Context, name string) error {
	d.mu.Lock()
	w, ok := d.workers[name]
	delete(d.workers, name)
	d.mu.Unlock()
	if ok {
		return d.provider.Stop(ctx, w)
	}
	// A failed Start cleans up after itself; this catches a domain left
	// by one interrupted at the wrong moment. One that stays is named in
	// a *hypervisor.LeftBehind.
	if err := d.fleet.Remove(ctx, name); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		return err
	}
	return nil
}

func printDensity(res *bench.DensityResult) error {
	fmt.Printf("host %s (%d cores, %s MiB available at start), %s\n", res.Host.Hostname, res.Host.Cores, mibText(res.HostAvailableStart), res.Host.URI)
	fmt.Printf("VMs: %d vCPU, %d MiB, acceleration %s (%s); idle window %s, %d pings per VM per step\n",
		res.Shape.VCPUs, res.Shape.MemoryMiB, res.Shape.Accel, res.Shape.AccelReason, res.Plan.Settle, res.Plan.Pings)
	var rows [][]string
	for _, s := range res.Steps {
		rows = append(rows, []string{fmt.Sprint(s.VMs), fmt.Sprintf("%.0f", float64(s.Create)/float64(time.Millisecond)),
			msText(s.Ping.P50), msText(s.Ping.P99), mibText(s.MeanRSS), mibText(s.MeanPSS), pctText(s.CPUPerVM), mibText(s.HostAvailable)})
	}
	if err := writeTable(os.Stdout, []string{"VMs", "create ms", "ping p50 ms", "ping p99 ms", "RSS MiB/VM", "PSS MiB/VM", "idle CPU %/VM", "host avail MiB"}, rows); err != nil {
		return err
	}
	for _, n := range res.Notes {
		fmt.Println("note:", n)
	}
	within := ""
	if res.Within != res.Reached {
		within = fmt.Sprintf(", %d within the %.1f× threshold", res.Within, res.Plan.Degrade)
	}
	fmt.Printf("largest N: %d VMs%s; stopped (%s): %s\n", res.Reached, within, res.Stop.Reason, res.Stop.Detail)
	return nil
}

func msText(d time.Duration) string   { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
func mibText(b uint64) string         { return fmt.Sprintf("%.0f", float64(b)/(1<<20)) }
func pctText(coreFrac float64) string { return fmt.Sprintf("%.2f", coreFrac*100) }

// localBenchVMs is what the density and parallel benches share: VMs of one
// shape on this machine, whose QEMU processes /proc shows.
type localBenchVMs struct {
	vms    *densityVMs
	host   bench.Host
	choice hypervisor.AccelChoice
	// note says what the run changed to make room (the overcommit limit).
	note  string
	close func()
}

// openLocalBenchVMs opens the local host for at most most VMs of the
// command's --vcpus, --accel and --tb-cache and memMiB of memory.
func openLocalBenchVMs(c *cli.Context, log *logrus.Logger, what string, memMiB, most int) (*localBenchVMs, error) {
	// QEMU's memory and CPU are read from /proc, so the VMs must run on
	// this machine.
	if c.String("hosts") != "" {
		return nil, fmt.Errorf("bench %s measures QEMU processes through /proc on this machine: drop --hosts and use --connect qemu:///system", what)
	}
	pidDir, err := hypervisor.QEMUPidDir(c.String("connect"))
	if err != nil {
		return nil, fmt.Errorf("bench %s: %w", what, err)
	}
	accel, err := hypervisor.ParseAccel(c.String("accel"))
	if err != nil {
		return nil, err
	}
	venv, err := openVMEnv(c, log)
	if err != nil {
		return nil, err
	}
	fleet := venv.fleet
	lv := &localBenchVMs{close: func() { fleet.Close() }}
	local := fleet.Members()[0]
	if lv.host, err = benchHost(c.Context, local); err != nil {
		lv.close()
		return nil, err
	}
	// Decide the acceleration once, so every VM runs the same and the
	// report says which.
	if lv.choice, err = local.Manager.ChooseAccel(c.Context, accel); err != nil {
		lv.close()
		return nil, err
	}
	policy, note, err := densityPolicy(c.Context, fleet, lv.host.Cores, most*c.Int("vcpus"))
	if err != nil {
		lv.close()
		return nil, err
	}
	lv.note = note
	spec := &jobs.Spec{Name: what, MaxAttempts: 1,
		VM: jobs.VMTemplate{VCPUs: c.Int("vcpus"), MemoryMiB: memMiB, Accel: string(lv.choice.Mode), TBCacheMiB: c.Int("tb-cache")}}
	provider := venv.provider(spec, "bench-"+what)
	provider.Policy = policy
	lv.vms = &densityVMs{provider: provider, fleet: fleet, pidDir: pidDir, proc: bench.ProcFS{Root: "/proc"}, workers: map[string]*jobs.Worker{}}
	return lv, nil
}
