package jobs

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/vmctl/vmctl/agent"
)

// DispatchStats is the round trip of partitions that do no work: what the
// job machinery costs per partition, apart from the work itself.
type DispatchStats struct {
	Worker string `json:"worker"`
	Count  int    `json:"count"`
	// Exec is one agent exec of `true`: request, process spawn in the
	// worker, exit status back.
	Exec Percentiles `json:"exec"`
	// Partition is a whole no-op exec partition as the runner runs it:
	// the shell wrapper that makes the output directory, then fetching
	// and removing that directory.
	Partition Percentiles `json:"partition"`
	// Channel is the agent channel's throughput, guest to host: a
	// process in the worker writes ChannelBytes of zeros to stdout and
	// the host reads them as the agent streams them. MB/s per run.
	Channel      []float64 `json:"channel_mb_per_sec,omitempty"`
	ChannelBytes int64     `json:"channel_bytes,omitempty"`
}

// channelRuns is how many times the channel throughput is measured.
const channelRuns = 3

// MeasureChannel streams n bytes from a process in w to the host, runs
// times, and returns MB/s (10^6 bytes) of each run, timed on the host
// from request to the last byte.
func MeasureChannel(ctx context.Context, w *Worker, n int64, runs int) ([]float64, error) {
	if n < 1 || n > agent.MaxStreamExecOutput {
		return nil, fmt.Errorf("channel test size %d: give 1 byte to %d MiB", n, agent.MaxStreamExecOutput>>20)
	}
	var out []float64
	for range runs {
		var cw countingWriter
		t0 := time.Now()
		res, err := w.Client.Exec(ctx, &agent.ExecRequest{Argv: []string{"head", "-c", fmt.Sprint(n), "/dev/zero"},
			MaxOutput: n, Timeout: 5 * time.Minute}, &cw, io.Discard)
		if err != nil {
			return nil, err
		}
		d := time.Since(t0)
		if res.ExitCode != 0 || cw.n != n {
			return nil, fmt.Errorf("channel test: exit %d, %d of %d bytes arrived", res.ExitCode, cw.n, n)
		}
		out = append(out, float64(n)/1e6/d.Seconds())
	}
	return out, nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// Percentiles of a sample of durations.
type Percentiles struct {
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	Min  time.Duration `json:"min_ns"`
	Max  time.Duration `json:"max_ns"`
	Mean time.Duration `json:"mean_ns"`
}

// PercentilesOf sorts d in place and summarises it (nearest rank).
func PercentilesOf(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(d))+0.999999) - 1
		return d[max(0, min(i, len(d)-1))]
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Percentiles{P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Min: d[0], Max: d[len(d)-1], Mean: sum / time.Duration(len(d))}
}

// MeasureDispatch runs count no-op execs and count no-op partitions on w,
// one at a time, after a few unmeasured warm-up rounds.
func MeasureDispatch(ctx context.Context, w *Worker, count int) (*DispatchStats, error) {
	if count < 1 {
		return nil, fmt.Errorf("dispatch count must be at least 1 (got %d)", count)
	}
	noop := &Spec{Name: "dispatch", Workload: WorkloadSpec{Exec: []string{"true"}}, MaxAttempts: 1}
	noop.Timeout.Duration = time.Minute
	st := &DispatchStats{Worker: w.Name, Count: count}
	execs := make([]time.Duration, 0, count)
	parts := make([]time.Duration, 0, count)
	for i := -3; i < count; i++ {
		t0 := time.Now()
		res, err := w.Client.Exec(ctx, &agent.ExecRequest{Argv: []string{"true"}, Timeout: time.Minute}, nil, nil)
		if err != nil {
			return nil, err
		}
		if res.ExitCode != 0 {
			return nil, fmt.Errorf("true exited %d", res.ExitCode)
		}
		d := time.Since(t0)
		t0 = time.Now()
		if _, err := runAttempt(ctx, noop, w, Partition{Index: max(i, 0)}, count, i+4); err != nil {
			return nil, err
		}
		if i >= 0 {
			execs, parts = append(execs, d), append(parts, time.Since(t0))
		}
	}
	st.Exec, st.Partition = PercentilesOf(execs), PercentilesOf(parts)
	st.ChannelBytes = 32 << 20
	var err error
	if st.Channel, err = MeasureChannel(ctx, w, st.ChannelBytes, channelRuns); err != nil {
		return nil, fmt.Errorf("channel throughput: %w", err)
	}
	return st, nil
}
