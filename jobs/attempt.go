package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/internal/failpoint"
	"github.com/vmctl/vmctl/workload"
)

// Caps on what a partition may send back. The guest is untrusted: past
// these, output is cut and the partition fails rather than the host
// running out of memory.
const (
	maxStdout      = 64 << 20
	maxStderr      = 1 << 20
	maxOutputFiles = 256 << 20
)

// errWorkerLost marks an attempt that failed because its worker went away
// (VM destroyed, agent gone), not because of the partition.
var errWorkerLost = errors.New("worker lost")

// attemptOutcome is one run of one partition.
type attemptOutcome struct {
	out      PartitionOutput
	files    []byte // tar of the partition's output directory, if any
	duration time.Duration
}

// outputDir is unique per attempt: a stale process from an earlier
// attempt (or a crashed run) never writes into a retry's directory.
func outputDir(w *Worker, p Partition, attempt int) string {
	return path.Join(w.OutputRoot, fmt.Sprintf("p%05d-a%d", p.Index, attempt))
}

// argv is what the worker runs for p. exec workloads get their output
// directory made first; built-ins need none and skip the shell.
func (s *Spec) argv(w *Worker) []string {
	if s.Workload.Builtin != "" {
		return append([]string{w.AgentPath}, workload.Argv(s.Workload.Builtin, s.Workload.Args)...)
	}
	return append([]string{"sh", "-c", `mkdir -p "$VMCTL_OUTPUT" && exec "$@"`, "sh"}, s.Workload.Exec...)
}

func (s *Spec) env(w *Worker, p Partition, total, attempt int) []string {
	env := p.Env(total, w.InputsRoot, outputDir(w, p, attempt))
	env = append(env, "VMCTL_INPUTS_DIR="+w.InputsRoot)
	for k, v := range s.Workload.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// runAttempt runs p once on w and returns its output, or why it failed.
// A failure of the worker itself wraps errWorkerLost.
func runAttempt(ctx context.Context, s *Spec, w *Worker, p Partition, total, attempt int) (*attemptOutcome, error) {
	start := time.Now()
	var stdout, stderr cappedBuffer
	stdout.max, stderr.max = maxStdout, maxStderr
	req := &agent.ExecRequest{
		Argv: s.argv(w), Env: s.env(w, p, total, attempt),
		Timeout: time.Duration(s.Timeout.Duration), MaxOutput: maxStdout,
	}
	res, err := w.Client.Exec(ctx, req, &stdout, &stderr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s: %v", errWorkerLost, w.Name, err)
	}
	switch {
	case res.TimedOut:
		return nil, fmt.Errorf("timed out after %s (timeout %s)%s", res.Duration.Round(time.Millisecond), s.Timeout.Duration, stderrTail(stderr.Bytes()))
	case res.ExitCode != 0 || res.Signal != "":
		how := fmt.Sprintf("exit code %d", res.ExitCode)
		if res.Signal != "" {
			how = "killed by " + res.Signal
		}
		return nil, fmt.Errorf("%s%s", how, stderrTail(stderr.Bytes()))
	case res.StdoutTruncated || stdout.cut:
		return nil, fmt.Errorf("stdout exceeded %d MiB", maxStdout>>20)
	}
	o := &attemptOutcome{out: PartitionOutput{Index: p.Index, Stdout: stdout.Bytes()}}
	if s.Workload.Builtin != "" {
		var r workload.Result
		if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
			return nil, fmt.Errorf("built-in %s printed no result: %v (stdout %q)", s.Workload.Builtin, err, clip(stdout.String(), 200))
		}
		if r.Workload != s.Workload.Builtin {
			return nil, fmt.Errorf("result is for workload %q, want %q", r.Workload, s.Workload.Builtin)
		}
		o.out.Result = &r
	} else {
		if err := failpoint.Hit(ctx, failpoint.BeforeFetch); err != nil {
			return nil, err
		}
		files, err := collectOutputs(ctx, w, outputDir(w, p, attempt))
		if err != nil {
			return nil, err
		}
		o.files = files
	}
	o.duration = time.Since(start)
	return o, nil
}

// collectOutputs fetches the attempt's output directory as a tar stream
// and removes it from the worker.
func collectOutputs(ctx context.Context, w *Worker, dir string) ([]byte, error) {
	var out, errOut cappedBuffer
	out.max, errOut.max = maxOutputFiles, maxStderr
	req := &agent.ExecRequest{
		Argv:      []string{"sh", "-c", `cd "$1" 2>/dev/null || exit 0; tar -cf - . && cd / && rm -rf "$1"`, "sh", dir},
		Timeout:   5 * time.Minute,
		MaxOutput: maxOutputFiles,
	}
	res, err := w.Client.Exec(ctx, req, &out, &errOut)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s: collect outputs: %v", errWorkerLost, w.Name, err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("collect outputs: exit code %d%s", res.ExitCode, stderrTail(errOut.Bytes()))
	}
	if res.StdoutTruncated || out.cut {
		return nil, fmt.Errorf("output files exceed %d MiB", maxOutputFiles>>20)
	}
	return out.Bytes(), nil
}

func stderrTail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return ": " + s
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// cappedBuffer keeps at most max bytes and notes that it cut the rest.
type cappedBuffer struct {
	bytes.Buffer
	max int
	cut bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.cut = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
