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

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/jobs"
)

// autoscaleRun is one row of `vmctl bench autoscale`.
type autoscaleRun struct {
	Mode      string        `json:"mode"` // "fixed N" or "autoscaled"
	Size      int           `json:"size,omitempty"`
	Makespan  time.Duration `json:"makespan_ns"`
	VMSeconds float64       `json:"vm_seconds"`
	Paused    float64       `json:"paused_vm_seconds,omitempty"`
	ScaleOuts int           `json:"scale_outs,omitempty"`
	ScaleIns  int           `json:"scale_ins,omitempty"`
	MaxPool   int           `json:"max_pool,omitempty"`
	Ceiling   string        `json:"ceiling,omitempty"`
}

// bestSlack is how much slower than the fastest fixed pool a smaller one
// may be and still count as as fast: run-to-run noise under TCG is of
// this order.
const bestSlack = 0.05

// autoscaleReport compares the autoscaled run with the best fixed pool.
type autoscaleReport struct {
	Runs     []autoscaleRun `json:"runs"`
	Arrivals jobs.Arrivals  `json:"arrivals"`
	// BestFixed is the size an operator would pick: the smallest fixed
	// pool whose makespan is within bestSlack of the fastest fixed pool
	// (a bigger pool that is no faster only costs more).
	BestFixed     int     `json:"best_fixed"`
	MakespanRatio float64 `json:"makespan_ratio"`   // autoscaled / best fixed
	VMSecondRatio float64 `json:"vm_seconds_ratio"` // autoscaled / best fixed
}

func benchAutoscaleCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "autoscale",
		Usage:     "run one job on fixed pools of each size and on its autoscaled pool; compare makespan and VM-seconds",
		ArgsUsage: "SPEC.yaml (with pool.autoscale)",
		Flags: append(jobFlags(),
			&cli.StringFlag{Name: "sizes", Value: "1,2,3,4", Usage: "fixed pool `SIZES` to compare against"},
		),
		Action: func(c *cli.Context) error {
			path, err := requireArg(c, "SPEC.yaml")
			if err != nil {
				return err
			}
			spec, err := jobs.Load(path)
			if err != nil {
				return err
			}
			if spec.Pool.Autoscale == nil {
				return fmt.Errorf("%s has no pool.autoscale: add one (see testdata/jobs/README.md) to compare it with fixed pools", path)
			}
			var sizes []int
			for _, f := range strings.Split(c.String("sizes"), ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n < 1 {
					return fmt.Errorf("--sizes: %q is not a pool size (want e.g. 1,2,3,4)", f)
				}
				sizes = append(sizes, n)
			}
			work, err := os.MkdirTemp("", "vmctl-bench-autoscale-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			rep := autoscaleReport{Arrivals: jobs.Arrivals{Waves: c.Int("waves"), Every: c.Duration("wave-every")}}
			var first *jobs.Reduced
			// Workers a run could not remove do not spoil its figures:
			// the runs go on and they are named at the end (exit 3).
			var left error
			run := func(mode string, s *jobs.Spec, size int) error {
				fmt.Fprintf(os.Stderr, "== %s\n", mode)
				sum, err := runOnce(c, log, s, fmt.Sprintf("%s/%d-%s", work, len(rep.Runs), strings.ReplaceAll(mode, " ", "-")), false)
				if hypervisor.OnlyLeftBehind(err) {
					left = errors.Join(left, err)
				} else if err != nil {
					return fmt.Errorf("%s: %w", mode, err)
				}
				if first == nil {
					first = sum.Result
				} else if err := jobs.CheckSameResult(first, sum.Result); err != nil {
					return fmt.Errorf("%s: %w", mode, err)
				}
				rep.Runs = append(rep.Runs, autoscaleRun{Mode: mode, Size: size, Makespan: sum.Makespan, VMSeconds: sum.VMSeconds,
					Paused: sum.PausedSeconds, ScaleOuts: sum.ScaleOuts, ScaleIns: sum.ScaleIns, MaxPool: sum.MaxPool, Ceiling: sum.Ceiling})
				return nil
			}
			for _, n := range sizes {
				fixed := *spec
				fixed.Pool.Autoscale, fixed.Pool.Size = nil, n
				if err := run(fmt.Sprintf("fixed %d", n), &fixed, n); err != nil {
					return errors.Join(err, left)
				}
			}
			if err := run("autoscaled", spec, 0); err != nil {
				return errors.Join(err, left)
			}
			best := bestFixed(rep.Runs[:len(sizes)])
			auto := rep.Runs[len(rep.Runs)-1]
			rep.BestFixed = best.Size
			rep.MakespanRatio = auto.Makespan.Seconds() / best.Makespan.Seconds()
			rep.VMSecondRatio = auto.VMSeconds / best.VMSeconds
			if jsonOutput(c) {
				return errors.Join(writeJSON(os.Stdout, rep), left)
			}
			rows := make([][]string, 0, len(rep.Runs))
			for _, r := range rep.Runs {
				rows = append(rows, []string{r.Mode, r.Makespan.Round(10 * time.Millisecond).String(), fmt.Sprintf("%.1f", r.VMSeconds), fmt.Sprintf("%.1f", r.Paused),
					fmt.Sprintf("%d/%d", r.ScaleOuts, r.ScaleIns), fmt.Sprint(r.MaxPool), r.Ceiling})
			}
			writeTable(os.Stdout, []string{"pool", "makespan", "VM-seconds", "paused VM-s", "scale out/in", "max VMs", "ceiling"}, rows)
			if a := rep.Arrivals; a.Waves > 1 {
				fmt.Printf("load: %d waves, %s apart\n", a.Waves, a.Every)
			}
			fmt.Printf("best fixed pool: %d VMs (the smallest within %.0f%% of the fastest); autoscaled makespan %.2fx, VM-seconds %.2fx of it\n",
				rep.BestFixed, bestSlack*100, rep.MakespanRatio, rep.VMSecondRatio)
			return left
		},
	}
}

// bestFixed is the smallest fixed pool within bestSlack of the fastest.
func bestFixed(runs []autoscaleRun) autoscaleRun {
	fastest := runs[0].Makespan
	for _, r := range runs {
		fastest = min(fastest, r.Makespan)
	}
	best := autoscaleRun{Size: -1}
	for _, r := range runs {
		if r.Makespan.Seconds() <= fastest.Seconds()*(1+bestSlack) && (best.Size < 0 || r.Size < best.Size) {
			best = r
		}
	}
	return best
}
