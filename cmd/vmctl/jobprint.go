package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/vmctl/vmctl/jobs"
)

// showProgress draws a bar on a terminal (stderr, so stdout stays the
// summary) and prints a plain line every few seconds otherwise, until ctx
// ends; then it closes done.
func showProgress(ctx context.Context, r *jobs.Runner, name string, done chan<- struct{}) {
	defer close(done)
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	var bar *progressbar.ProgressBar
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var lastLine time.Time
	var last jobs.Progress
	for {
		select {
		case <-ctx.Done():
			if bar != nil {
				bar.Exit()
				fmt.Fprintln(os.Stderr)
			}
			return
		case <-tick.C:
		}
		p := r.Progress()
		if p.Total == 0 {
			continue
		}
		desc := fmt.Sprintf("%s: %d running, %d failed, %d workers up, ETA %s", name, p.Running, p.Failed, p.Workers, eta(p))
		if tty {
			if bar == nil {
				bar = progressbar.NewOptions(p.Total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
					progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(false),
					progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond))
			}
			bar.Describe(desc)
			bar.Set(p.Done)
			continue
		}
		changed := p.Done != last.Done || p.Failed != last.Failed || p.Workers != last.Workers
		if changed || time.Since(lastLine) >= 10*time.Second {
			fmt.Fprintf(os.Stderr, "%s: %d/%d done, %d running, %d failed, %d workers up, %s elapsed, ETA %s\n",
				name, p.Done, p.Total, p.Running, p.Failed, p.Workers, p.Elapsed.Round(time.Second), eta(p))
			lastLine, last = time.Now(), p
		}
	}
}

func eta(p jobs.Progress) string {
	if p.ETA == 0 {
		return "-"
	}
	return p.ETA.Round(time.Second).String()
}

func printJobSummary(s *jobs.Summary, native *jobs.Summary) {
	rows := make([][]string, 0, len(s.Rows))
	for _, r := range s.Rows {
		where, dur := r.Worker, r.Duration.Round(time.Millisecond).String()
		if !r.Done {
			where, dur = "(not done)", "-"
		} else if r.Resumed {
			where += " (earlier run)"
		}
		rows = append(rows, []string{fmt.Sprint(r.Index), where, r.Host, fmt.Sprint(r.Attempts), dur, mb(r.Bytes)})
	}
	writeTable(os.Stdout, []string{"partition", "worker", "host", "attempts", "duration", "input MB"}, rows)
	fmt.Printf("job %s (%s): %d/%d partitions done", s.Job, s.Kind, s.Done, s.Partitions)
	if s.Resumed > 0 {
		fmt.Printf(" (%d from an earlier run)", s.Resumed)
	}
	fmt.Printf(", %d attempts (%d failed), %d workers started\n", s.Attempts, s.Failures, s.Workers)
	fmt.Printf("elapsed %s (first worker ready after %s, work %s); throughput %.2f partitions/s, %.2f input MB/s overall, %.2f MB/s while working\n",
		s.Elapsed.Round(time.Millisecond), s.Startup.Round(time.Millisecond), s.Work.Round(time.Millisecond), s.PartitionsPerSec, s.InputMBPerSec, s.RunMBPerSec)
	if s.VMSeconds > 0 {
		fmt.Printf("pool cost %.1f VM-seconds", s.VMSeconds)
		if s.PausedSeconds > 0 {
			fmt.Printf(" (+%.1f paused in the warm pool)", s.PausedSeconds)
		}
		if s.ScaleOuts+s.ScaleIns > 0 {
			fmt.Printf("; autoscaler: %d scale-outs, %d scale-ins, at most %d VMs", s.ScaleOuts, s.ScaleIns, s.MaxPool)
		}
		fmt.Println()
	}
	if s.Ceiling != "" {
		fmt.Printf("throughput ceiling: %s\n", s.Ceiling)
	}
	if len(s.DecisionCounts) > 0 {
		kinds := slices.Sorted(maps.Keys(s.DecisionCounts))
		parts := make([]string, 0, len(kinds))
		for _, k := range kinds {
			parts = append(parts, fmt.Sprintf("%s %d", k, s.DecisionCounts[k]))
		}
		fmt.Printf("autoscaler decisions: %s\n", strings.Join(parts, ", "))
	}
	for _, k := range []string{"cold", "warm"} {
		var ready, first []time.Duration
		for _, st := range s.Starts {
			if st.Kind == k {
				ready = append(ready, st.Ready)
				if st.FirstPartition > 0 {
					first = append(first, st.FirstPartition)
				}
			}
		}
		if len(ready) > 0 {
			fmt.Printf("%s starts: %d, ready p50 %s, first partition p50 %s\n", k, len(ready),
				jobs.PercentilesOf(ready).P50.Round(time.Millisecond), jobs.PercentilesOf(first).P50.Round(time.Millisecond))
		}
	}
	if res := s.Result; res != nil {
		fmt.Printf("result (%s): %s\n", res.Kind, resultLine(res))
	}
	fmt.Printf("job directory: %s\n", s.Dir)
	if native != nil {
		ratio := jobs.Compare(s, native)
		fmt.Printf("native run: elapsed %s, %.2f input MB/s, %.2f partitions/s; same result\n",
			native.Elapsed.Round(time.Millisecond), native.InputMBPerSec, native.PartitionsPerSec)
		fmt.Printf("in-VM / native throughput (%s): %.3f overall (VM boot and teardown included), %.3f while working\n", ratio.Basis, ratio.Throughput, ratio.RunThroughput)
	}
}

func resultLine(r *jobs.Reduced) string {
	switch {
	case len(r.Counts) > 0:
		return fmt.Sprintf("%d distinct keys, total %.0f (counts.tsv)", len(r.Counts), r.Value)
	case r.Kind == "concat":
		return fmt.Sprintf("%d bytes (result.txt)", len(r.Text))
	case r.Kind == "none":
		return fmt.Sprintf("%d partitions", r.Partitions)
	}
	return fmt.Sprintf("%v", r.Value)
}

func mb(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(b)/1e6)
}

func printJobStatus(st *jobs.Status) {
	fmt.Printf("job %s: %s, %d/%d partitions done, %d attempts (%d failed)\n", st.Name, st.State, st.Done, st.Partitions, st.Attempts, st.Failures)
	fmt.Printf("started %s, directory %s\n", st.Started.Local().Format("2006-01-02 15:04:05"), st.Dir)
	if len(st.Workers) > 0 {
		fmt.Printf("workers: %v\n", st.Workers)
	}
	if st.LastError != "" {
		fmt.Printf("last failure: %s\n", st.LastError)
	}
	if st.State != "done" {
		fmt.Printf("if its vmctl is gone: vmctl job resume %s\n", st.Dir)
	}
}
