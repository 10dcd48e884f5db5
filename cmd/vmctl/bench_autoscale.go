package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/jobs"
	"github.com/vmctl/vmctl/stats"
)

// autoscaleRun is one row of `vmctl bench autoscale`.
type autoscaleRun struct {
	Round     int           `json:"round"`
	Mode      string        `json:"mode"` // "fixed N" or "autoscaled"
	Size      int           `json:"size,omitempty"`
	Makespan  time.Duration `json:"makespan_ns"`
	VMSeconds float64       `json:"vm_seconds"`
	Paused    float64       `json:"paused_vm_seconds,omitempty"`
	ScaleOuts int           `json:"scale_outs,omitempty"`
	ScaleIns  int           `json:"scale_ins,omitempty"`
	MaxPool   int           `json:"max_pool,omitempty"`
	Ceiling   string        `json:"ceiling,omitempty"`
	Ceilings  []int         `json:"ceilings,omitempty"`
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
	// With --repeat 2 or more: the ratios' 95% intervals, paired by round
	// (each round ran every pool back to back).
	MakespanInterval *stats.Interval `json:"makespan_ratio_interval,omitempty"`
	VMSecondInterval *stats.Interval `json:"vm_seconds_ratio_interval,omitempty"`
	Rounds           int             `json:"rounds"`
	// CeilingRuns is how many autoscaled runs declared a ceiling;
	// CeilingSizes counts the declared ceilings by size.
	CeilingRuns  int         `json:"ceiling_runs"`
	CeilingSizes map[int]int `json:"ceiling_sizes,omitempty"`
}

func benchAutoscaleCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "autoscale",
		Usage:     "run one job on fixed pools of each size and on its autoscaled pool; compare makespan and VM-seconds",
		ArgsUsage: "SPEC.yaml (with pool.autoscale)",
		Flags: append(jobFlags(),
			&cli.StringFlag{Name: "sizes", Value: "1,2,3,4", Usage: "fixed pool `SIZES` to compare against"},
			&cli.IntFlag{Name: "repeat", Value: 1, Usage: "run every pool `N` times (rounds alternate their order) and give intervals"},
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
			rounds := c.Int("repeat")
			if rounds < 1 {
				return fmt.Errorf("--repeat %d: give 1 or more rounds", rounds)
			}
			rep := autoscaleReport{Arrivals: jobs.Arrivals{Waves: c.Int("waves"), Every: c.Duration("wave-every")}, Rounds: rounds}
			var first *jobs.Reduced
			// Workers a run could not remove do not spoil its figures:
			// the runs go on and they are named at the end (exit 3).
			var left error
			run := func(round int, mode string, s *jobs.Spec, size int) error {
				fmt.Fprintf(os.Stderr, "== round %d/%d: %s\n", round+1, rounds, mode)
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
				rep.Runs = append(rep.Runs, autoscaleRun{Round: round, Mode: mode, Size: size, Makespan: sum.Makespan, VMSeconds: sum.VMSeconds,
					Paused: sum.PausedSeconds, ScaleOuts: sum.ScaleOuts, ScaleIns: sum.ScaleIns, MaxPool: sum.MaxPool, Ceiling: sum.Ceiling,
					Ceilings: sum.Ceilings})
				return nil
			}
			for round := range rounds {
				// Every other round runs the autoscaled pool first, so a
				// drift of the host over the run hits both sides.
				steps := make([]func() error, 0, len(sizes)+1)
				for _, n := range sizes {
					fixed := *spec
					fixed.Pool.Autoscale, fixed.Pool.Size = nil, n
					steps = append(steps, func() error { return run(round, fmt.Sprintf("fixed %d", n), &fixed, n) })
				}
				auto := func() error { return run(round, "autoscaled", spec, 0) }
				if round%2 == 1 {
					steps = append([]func() error{auto}, steps...)
				} else {
					steps = append(steps, auto)
				}
				for _, step := range steps {
					if err := step(); err != nil {
						return errors.Join(err, left)
					}
				}
			}
			summarizeAutoscale(&rep)
			if jsonOutput(c) {
				return errors.Join(writeJSON(os.Stdout, rep), left)
			}
			rows := make([][]string, 0, len(rep.Runs))
			for _, r := range rep.Runs {
				rows = append(rows, []string{fmt.Sprint(r.Round + 1), r.Mode, r.Makespan.Round(10 * time.Millisecond).String(), fmt.Sprintf("%.1f", r.VMSeconds), fmt.Sprintf("%.1f", r.Paused),
					fmt.Sprintf("%d/%d", r.ScaleOuts, r.ScaleIns), fmt.Sprint(r.MaxPool), r.Ceiling})
			}
			writeTable(os.Stdout, []string{"round", "pool", "makespan", "VM-seconds", "paused VM-s", "scale out/in", "max VMs", "ceiling"}, rows)
			if a := rep.Arrivals; a.Waves > 1 {
				fmt.Printf("load: %d waves, %s apart\n", a.Waves, a.Every)
			}
			fmt.Printf("best fixed pool: %d VMs (the smallest within %.0f%% of the fastest, by median makespan over %d rounds); autoscaled makespan %.2fx, VM-seconds %.2fx of it\n",
				rep.BestFixed, bestSlack*100, rep.Rounds, rep.MakespanRatio, rep.VMSecondRatio)
			if iv := rep.MakespanInterval; iv != nil {
				fmt.Printf("  95%% intervals, paired by round: makespan %.2f-%.2fx, VM-seconds %.2f-%.2fx\n",
					iv.Low, iv.High, rep.VMSecondInterval.Low, rep.VMSecondInterval.High)
			}
			fmt.Printf("ceilings: declared in %d of %d autoscaled runs", rep.CeilingRuns, rep.Rounds)
			if len(rep.CeilingSizes) > 0 {
				fmt.Printf(" (by size: %v)", rep.CeilingSizes)
			}
			fmt.Println()
			return left
		},
	}
}

// bestFixed is the smallest fixed pool within bestSlack of the fastest,
// by median makespan over the rounds.
func bestFixed(runs []autoscaleRun) int {
	bySize := map[int][]float64{}
	for _, r := range runs {
		if r.Size > 0 {
			bySize[r.Size] = append(bySize[r.Size], r.Makespan.Seconds())
		}
	}
	med := map[int]float64{}
	fastest := math.Inf(1)
	for n, v := range bySize {
		slices.Sort(v)
		med[n] = v[len(v)/2]
		fastest = min(fastest, med[n])
	}
	best := -1
	for n, m := range med {
		if m <= fastest*(1+bestSlack) && (best < 0 || n < best) {
			best = n
		}
	}
	return best
}

// summarizeAutoscale compares the autoscaled runs with the best fixed
// pool, round by round, and counts the ceilings declared.
func summarizeAutoscale(rep *autoscaleReport) {
	rep.BestFixed = bestFixed(rep.Runs)
	var fixedMS, autoMS, fixedVM, autoVM []float64
	for round := range rep.Rounds {
		var f, a *autoscaleRun
		for i := range rep.Runs {
			r := &rep.Runs[i]
			switch {
			case r.Round == round && r.Size == rep.BestFixed:
				f = r
			case r.Round == round && r.Mode == "autoscaled":
				a = r
			}
		}
		if f == nil || a == nil {
			continue
		}
		fixedMS, autoMS = append(fixedMS, f.Makespan.Seconds()), append(autoMS, a.Makespan.Seconds())
		fixedVM, autoVM = append(fixedVM, f.VMSeconds), append(autoVM, a.VMSeconds)
		if len(a.Ceilings) > 0 {
			rep.CeilingRuns++
			if rep.CeilingSizes == nil {
				rep.CeilingSizes = map[int]int{}
			}
			for _, n := range a.Ceilings {
				rep.CeilingSizes[n]++
			}
		}
	}
	ms, err1 := stats.PairedRatio(fixedMS, autoMS, 0.95)
	vm, err2 := stats.PairedRatio(fixedVM, autoVM, 0.95)
	if err1 != nil || err2 != nil {
		return
	}
	rep.MakespanRatio, rep.VMSecondRatio = ms.Estimate, vm.Estimate
	if len(fixedMS) >= 2 {
		rep.MakespanInterval, rep.VMSecondInterval = &ms, &vm
	}
}
