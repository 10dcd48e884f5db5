package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/vmctl/vmctl/bench"
	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/jobs"
	"github.com/vmctl/vmctl/scheduler"
)

func benchOverheadCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:  "overhead",
		Usage: "run the same workloads natively and in a VM, alternating, until the VM/native ratio's 95% interval is narrow enough",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "workloads", Value: "cpu-hash,primes,membw,syscalls", Usage: "comma-separated `LIST`: cpu-hash, primes, membw, syscalls, io, NAME:k=v;k=v, exec:COMMAND ARGS"},
			&cli.IntFlag{Name: "reps", Value: bench.DefaultPlan().MinPairs, Usage: "at least `N` native/VM pairs per workload after warm-up"},
			&cli.IntFlag{Name: "max-reps", Value: bench.DefaultPlan().MaxPairs, Usage: "at most `N` pairs per workload"},
			&cli.IntFlag{Name: "warmup", Value: bench.DefaultPlan().Warmup, Usage: "unmeasured runs per side first"},
			&cli.Float64Flag{Name: "target", Value: bench.DefaultPlan().Target, Usage: "stop when the ratio's 95% interval is within ±`FRACTION` (0.03 = ±3%)"},
			&cli.DurationFlag{Name: "budget", Value: 6 * time.Minute, Usage: "time the repetitions may take in all; the report says where it ran out"},
			&cli.StringFlag{Name: "vcpus", Value: "1", Usage: "vCPU counts to compare, e.g. 1,2 (one variant each)"},
			&cli.StringFlag{Name: "pin", Value: "off", Usage: "off, on, or both (pinned and unpinned variants)"},
			&cli.StringFlag{Name: "accel", Value: "auto", Usage: "auto, kvm, tcg, or both (KVM and TCG variants where KVM is usable)"},
			&cli.IntFlag{Name: "memory", Value: 512, Usage: "guest memory in `MiB`"},
			&cli.StringFlag{Name: "agent", Value: defaultAgentPath(), Usage: "vmctl-agent `BINARY` for the native side"},
			&cli.StringFlag{Name: "report", Usage: "write a self-contained HTML report to `FILE`"},
			&cli.StringFlag{Name: "json", Usage: "also write the JSON (every sample) to `FILE`"},
		},
		Action: func(c *cli.Context) error {
			plan := bench.Plan{Target: c.Float64("target"), Level: 0.95, Warmup: c.Int("warmup"), MinPairs: c.Int("reps"), MaxPairs: c.Int("max-reps")}
			if err := plan.Validate(); err != nil {
				return err
			}
			work, err := os.MkdirTemp("", "vmctl-bench-overhead-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			wls, err := bench.ParseWorkloads(c.String("workloads"), work)
			if err != nil {
				return err
			}
			variants, notes, err := overheadVariants(c)
			if err != nil {
				return err
			}
			vms, err := openVMEnv(c, log)
			if err != nil {
				return err
			}
			fleet := vms.fleet
			defer fleet.Close()
			host, err := benchHost(c.Context, firstReachable(fleet))
			if err != nil {
				return err
			}
			scratch := 0
			for _, wl := range wls {
				scratch = max(scratch, wl.ScratchMiB())
			}
			nativeSpec := &jobs.Spec{Name: "overhead", MaxAttempts: 1}
			env := bench.Env{
				Native: &jobs.NativeProvider{Spec: nativeSpec, AgentPath: c.String("agent"), WorkDir: work},
				VM: func(v bench.Variant) (jobs.Provider, error) {
					spec := &jobs.Spec{Name: "overhead", MaxAttempts: 1, VM: jobs.VMTemplate{
						VCPUs: v.Shape.VCPUs, MemoryMiB: v.Shape.MemoryMiB, Accel: v.Shape.Accel, Pin: v.Shape.Pinned, ScratchMiB: scratch}}
					return vms.provider(spec, "bench"), nil
				},
				Accel: func(ctx context.Context, w *jobs.Worker) (string, string, error) {
					_, info, err := fleet.Find(ctx, w.Name)
					if err != nil {
						return "", "", err
					}
					return string(info.Meta.AccelMode), info.Meta.AccelReason, nil
				},
				Name:       func(i int) string { return fmt.Sprintf("vmctl-bench-overhead-%d-%d", os.Getpid(), i) },
				RunTimeout: 5 * time.Minute,
			}
			quiet := jsonOutput(c)
			rep, err := bench.Overhead(c.Context, env, wls, variants, plan, c.Duration("budget"), func(r bench.Result) {
				if !quiet {
					fmt.Fprintf(os.Stderr, "%-10s %-16s pair %3d: VM/native %.3f ±%.1f%%\n", r.Workload, r.Variant, r.Ratio.N, r.Ratio.Estimate, r.Ratio.HalfWidth*100)
				}
			})
			if rep != nil {
				rep.Host, rep.Notes = host, append(rep.Notes, notes...)
			}
			// VMs it could not remove are named (exit 3); the report
			// is complete.
			if err != nil && !hypervisor.OnlyLeftBehind(err) {
				return err
			}
			left := err
			if p := c.String("json"); p != "" {
				if err := bench.WriteJSONFile(p, rep); err != nil {
					return err
				}
			}
			if p := c.String("report"); p != "" {
				if err := bench.WriteHTMLFile(p, rep); err != nil {
					return err
				}
			}
			if jsonOutput(c) {
				return errors.Join(writeJSON(os.Stdout, rep), left)
			}
			printOverhead(rep)
			if p := c.String("report"); p != "" {
				fmt.Printf("report: %s\n", p)
			}
			return left
		},
	}
}

// overheadVariants is the cross product of --vcpus, --pin and --accel.
// KVM variants on a host without usable KVM are dropped with a note.
func overheadVariants(c *cli.Context) ([]bench.Variant, []string, error) {
	var vcpus []int
	for _, f := range strings.Split(c.String("vcpus"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 64 {
			return nil, nil, fmt.Errorf("--vcpus: %q is not a vCPU count (want e.g. 1,2)", f)
		}
		vcpus = append(vcpus, n)
	}
	pins := map[string][]bool{"off": {false}, "on": {true}, "both": {false, true}}[c.String("pin")]
	if pins == nil {
		return nil, nil, fmt.Errorf("--pin %q: use off, on or both", c.String("pin"))
	}
	accels := map[string][]string{"auto": {"auto"}, "kvm": {"kvm"}, "tcg": {"tcg"}, "both": {"kvm", "tcg"}}[c.String("accel")]
	if accels == nil {
		return nil, nil, fmt.Errorf("--accel %q: use auto, kvm, tcg or both", c.String("accel"))
	}
	var notes []string
	if c.String("accel") == "both" {
		if ok, why := hypervisor.ProbeLocalKVM().KVMUsable(); !ok {
			accels = []string{"tcg"}
			notes = append(notes, "KVM variants not measured: "+why)
		}
	}
	var out []bench.Variant
	for _, a := range accels {
		for _, n := range vcpus {
			for _, pin := range pins {
				name := fmt.Sprintf("%d vCPU", n)
				if pin {
					name += " pinned"
				}
				if len(accels) > 1 {
					name += " " + a
				}
				out = append(out, bench.Variant{Name: name, Shape: bench.Shape{VCPUs: n, MemoryMiB: c.Int("memory"), Pinned: pin, Accel: a}})
			}
		}
	}
	return out, notes, nil
}

// firstReachable is the fleet's first host that answered.
func firstReachable(fleet *scheduler.Fleet) *scheduler.Member {
	for _, m := range fleet.Members() {
		if m.Err == nil {
			return m
		}
	}
	return nil
}

// benchHost describes a host for a benchmark report.
func benchHost(ctx context.Context, m *scheduler.Member) (bench.Host, error) {
	if m == nil {
		return bench.Host{}, fmt.Errorf("no reachable libvirt host")
	}
	hi, err := m.Backend.Host(ctx)
	if err != nil {
		return bench.Host{}, err
	}
	h := bench.Host{Hostname: hi.Hostname, CPUModel: hi.CPUModel, Cores: hi.CPUs, MemoryBytes: uint64(hi.MemoryTotalMiB) << 20,
		Libvirt: hi.LibvirtVersion, QEMU: hi.QEMUVersion, URI: m.Spec.URI}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:]) + " " + runtime.GOARCH
	}
	return h, nil
}

func printOverhead(rep *bench.Report) {
	for _, r := range rep.Results {
		if r.Shape.Accel == string(hypervisor.AccelTCG) {
			fmt.Println("acceleration: TCG (emulation): these ratios are the cost of emulation, not of KVM virtualization")
			break
		}
	}
	var rows [][]string
	for _, r := range rep.Results {
		native, vm := bench.Pairs(r)
		rows = append(rows, []string{r.Workload, r.Variant, r.Shape.Accel, r.Unit, fmt.Sprintf("%.1f", mean(native)), fmt.Sprintf("%.1f", mean(vm)),
			fmt.Sprintf("%.3f [%.3f, %.3f]", r.Ratio.Estimate, r.Ratio.Low, r.Ratio.High), fmt.Sprintf("±%.1f%%", r.Ratio.HalfWidth*100),
			fmt.Sprint(r.Ratio.N), map[bool]string{true: "yes", false: "no"}[r.Converged]})
	}
	writeTable(os.Stdout, []string{"workload", "variant", "accel", "unit", "native", "vm", "VM/native (95% CI)", "width", "pairs", "target"}, rows)
	for _, r := range rep.Results {
		if !r.Converged {
			fmt.Printf("%s on %s: %s\n", r.Workload, r.Variant, r.Stop)
		}
	}
	for _, n := range rep.Notes {
		fmt.Println("note:", n)
	}
	fmt.Printf("took %s on %s (%s, %d cores)\n", rep.Duration.Round(time.Second), rep.Host.Hostname, rep.Host.CPUModel, rep.Host.Cores)
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
