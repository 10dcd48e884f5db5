package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/bench"
)

func benchParallelCommand(log *logrus.Logger) *cli.Command {
	def := bench.DefaultParallelPlan()
	return &cli.Command{
		Name: "parallel",
		Usage: "start N VMs at the same instant for each N and compare the time until all answer " +
			"with the CPU-bound limit N × (single boot's CPU time, QEMU and libvirt daemons) / cores",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "counts", Value: joinInts(def.Counts), Usage: "comma-separated `N`s of VMs started at once (1 is always measured: it is the reference)"},
			&cli.IntFlag{Name: "rounds", Value: def.Rounds, Usage: "repeat each count `R` times and report the median round"},
			&cli.IntFlag{Name: "vcpus", Value: 1},
			&cli.IntFlag{Name: "memory", Value: def.GuestMiB, Usage: "guest memory in `MiB`"},
			&cli.StringFlag{Name: "accel", Value: "auto", Usage: "auto, kvm or tcg"},
			&cli.IntFlag{Name: "reserve", Value: def.ReserveMiB, Usage: "refuse counts that would leave less than `MiB` of host memory available"},
			tbCacheFlag(),
		},
		Action: func(c *cli.Context) error {
			counts, err := parseCounts(c.String("counts"))
			if err != nil {
				return err
			}
			plan := bench.ParallelPlan{Counts: counts, Rounds: c.Int("rounds"), Cores: 1, GuestMiB: c.Int("memory"), ReserveMiB: c.Int("reserve")}
			// Cores is the host's, known once it is open: validate the
			// rest first so bad input creates nothing.
			if err := plan.Validate(); err != nil {
				return err
			}
			lv, err := openLocalBenchVMs(c, log, "parallel", plan.GuestMiB, plan.Counts[len(plan.Counts)-1])
			if err != nil {
				return err
			}
			defer lv.close()
			plan.Cores = lv.host.Cores
			quiet := jsonOutput(c)
			env := bench.ParallelEnv{
				VMs: lv.vms,
				Name: func(n, round, i int) string {
					return fmt.Sprintf("vmctl-bench-par-%d-%d-%d-%d", os.Getpid(), n, round, i)
				},
				MemAvailable: lv.vms.proc.MemAvailable,
				DaemonCPU: func() (time.Duration, error) {
					return lv.vms.proc.CommandsCPUTime(libvirtDaemons...)
				},
				Progress: func(s bench.ParallelStep) {
					if !quiet {
						fmt.Fprintf(os.Stderr, "%2d at once: all ready in %s, CPU %s (QEMU %s, daemons %s), limit %s, ratio %.2f\n",
							s.N, s.AllReady.Round(time.Millisecond), s.CPU.Round(time.Millisecond), s.QEMUCPU.Round(time.Millisecond),
							s.DaemonCPU.Round(time.Millisecond), s.CPULimit.Round(time.Millisecond), s.Ratio)
					}
				},
			}
			if !quiet {
				fmt.Fprintf(os.Stderr, "starting %v VMs at once (%d vCPU, %d MiB, %s) on %s, %d cores...\n",
					plan.Counts, c.Int("vcpus"), plan.GuestMiB, lv.choice.Mode, lv.host.URI, plan.Cores)
			}
			res, err := bench.Parallel(c.Context, env, plan)
			if res != nil {
				res.Host = lv.host
				res.Shape = bench.Shape{VCPUs: c.Int("vcpus"), MemoryMiB: plan.GuestMiB, Accel: string(lv.choice.Mode), AccelReason: lv.choice.Reason}
				if lv.note != "" {
					res.Notes = append(res.Notes, lv.note)
				}
				var perr error
				if quiet {
					perr = writeJSON(os.Stdout, res)
				} else {
					perr = printParallel(res)
				}
				err = errors.Join(err, perr)
			}
			return err
		},
	}
}

// libvirtDaemons are the processes besides QEMU that work on a boot, by
// command name: the monolithic daemon and its modular successors.
var libvirtDaemons = []string{"libvirtd", "virtqemud", "virtlogd", "virtlockd"}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("--counts: %q is not a number: give VM counts like 1,2,4,8", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func printParallel(res *bench.ParallelResult) error {
	fmt.Printf("host %s (%d cores), %s; VMs %d vCPU, %d MiB, %s (%s)\n", res.Host.Hostname, res.Host.Cores, res.Host.URI,
		res.Shape.VCPUs, res.Shape.MemoryMiB, res.Shape.Accel, res.Shape.AccelReason)
	fmt.Printf("single boot: ready in %s, CPU %s (QEMU and the libvirt daemons)\n", res.SingleWall.Round(time.Millisecond), res.SingleCPU.Round(time.Millisecond))
	var rows [][]string
	for _, s := range res.Steps {
		rows = append(rows, []string{fmt.Sprint(s.N), ms(s.AllReady), ms(s.ReadyP50), ms(s.QEMUCPU), ms(s.DaemonCPU), ms(s.CPUPerBoot), ms(s.CPULimit), fmt.Sprintf("%.2f", s.Ratio)})
	}
	if err := writeTable(os.Stdout, []string{"N", "all ready", "ready p50", "QEMU CPU", "daemon CPU", "CPU/boot", "CPU-bound limit", "ratio"}, rows); err != nil {
		return err
	}
	fmt.Println("ratio = all ready / (N × single-boot CPU / cores); below N = cores one boot's own wall time is the floor")
	for _, n := range res.Notes {
		fmt.Println("note:", n)
	}
	return nil
}
