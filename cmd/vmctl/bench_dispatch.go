package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/jobs"
)

func benchDispatchCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:  "dispatch",
		Usage: "round trip of a no-op partition through the agent (p50/p99), in a VM and natively",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "count", Value: 200, Usage: "no-op partitions to time"},
			&cli.StringFlag{Name: "accel", Value: "auto"},
			&cli.StringFlag{Name: "agent", Value: defaultAgentPath(), Usage: "vmctl-agent `BINARY` for the native side"},
		},
		Action: func(c *cli.Context) error {
			spec := &jobs.Spec{Name: "dispatch", VM: jobs.VMTemplate{VCPUs: 1, MemoryMiB: 256, Accel: c.String("accel")},
				Workload: jobs.WorkloadSpec{Exec: []string{"true"}}, MaxAttempts: 1}
			var results []*jobs.DispatchStats

			work, err := os.MkdirTemp("", "vmctl-dispatch-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			nat := &jobs.NativeProvider{Spec: spec, AgentPath: c.String("agent"), WorkDir: filepath.Join(work, "native")}
			st, err := measureOn(c.Context, nat, "native-dispatch", c.Int("count"))
			if err != nil {
				return fmt.Errorf("native: %w", err)
			}
			results = append(results, st)

			env, err := openVMEnv(c, log)
			if err != nil {
				return err
			}
			defer env.fleet.Close()
			name := fmt.Sprintf("vmctl-bench-dispatch-%d", os.Getpid())
			vmp := env.provider(spec, "bench")
			fmt.Fprintf(os.Stderr, "booting %s...\n", name)
			// A VM it could not remove is named (exit 3); the figures
			// are good.
			st, left := measureOn(c.Context, vmp, name, c.Int("count"))
			if left != nil && !hypervisor.OnlyLeftBehind(left) {
				return fmt.Errorf("vm: %w", left)
			}
			if st != nil {
				results = append(results, st)
			}

			if jsonOutput(c) {
				return errors.Join(writeJSON(os.Stdout, results), left)
			}
			ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
			var rows [][]string
			for _, r := range results {
				for _, k := range []struct {
					what string
					p    jobs.Percentiles
				}{{"agent exec `true`", r.Exec}, {"no-op exec partition", r.Partition}} {
					rows = append(rows, []string{r.Worker, k.what, fmt.Sprint(r.Count), ms(k.p.P50), ms(k.p.P90), ms(k.p.P99), ms(k.p.Min), ms(k.p.Max)})
				}
			}
			if err := writeTable(os.Stdout, []string{"worker", "round trip", "n", "p50 ms", "p90 ms", "p99 ms", "min ms", "max ms"}, rows); err != nil {
				return err
			}
			for _, r := range results {
				fmt.Printf("%s: channel guest→host %s MB/s (%d MiB streamed, %d runs)\n", r.Worker, mbps(r.Channel), r.ChannelBytes>>20, len(r.Channel))
			}
			return left
		},
	}
}

// measureOn starts one worker, times dispatch on it and stops it. A worker
// it cannot stop is named in the error, with the figures still returned.
func measureOn(ctx context.Context, p jobs.Provider, name string, count int) (st *jobs.DispatchStats, err error) {
	w, err := p.Start(ctx, name)
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jobs.WorkerStopTimeout)
		defer cancel()
		err = errors.Join(err, p.Stop(sctx, w))
	}()
	return jobs.MeasureDispatch(ctx, w, count)
}

// mbps lists throughputs as "12.3 / 12.9 / 13.1".
func mbps(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.1f", x))
	}
	return strings.Join(parts, " / ")
}
