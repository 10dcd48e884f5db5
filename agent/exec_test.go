package agent

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestExecutorRun(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		req   ExecRequest
		check func(t *testing.T, res *ExecResult)
	}{
		{
			name: "exit code",
			req:  ExecRequest{Argv: []string{"sh", "-c", "exit 3"}},
			check: func(t *testing.T, res *ExecResult) {
				if res.ExitCode != 3 || res.Signal != "" || res.TimedOut {
					t.Errorf("result = %+v, want exit 3", res)
				}
			},
		},
		{
			name: "signal",
			req:  ExecRequest{Argv: []string{"sh", "-c", "kill -TERM $$"}},
			check: func(t *testing.T, res *ExecResult) {
				if res.ExitCode != -1 || res.Signal != "SIGTERM" {
					t.Errorf("result = %+v, want SIGTERM", res)
				}
			},
		},
		{
			name: "stdout and stderr",
			req:  ExecRequest{Argv: []string{"sh", "-c", "echo out; echo err >&2"}},
			check: func(t *testing.T, res *ExecResult) {
				if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
					t.Errorf("stdout %q stderr %q", res.Stdout, res.Stderr)
				}
			},
		},
		{
			name: "stdin",
			req:  ExecRequest{Argv: []string{"cat"}, Stdin: []byte("hello stdin")},
			check: func(t *testing.T, res *ExecResult) {
				if string(res.Stdout) != "hello stdin" {
					t.Errorf("stdout %q", res.Stdout)
				}
			},
		},
		{
			name: "env adds and overrides",
			req:  ExecRequest{Argv: []string{"sh", "-c", `echo "$VMCTL_A $VMCTL_A2"`}, Env: []string{"VMCTL_A=1", "VMCTL_A2=x", "VMCTL_A2=y"}},
			check: func(t *testing.T, res *ExecResult) {
				if string(res.Stdout) != "1 y\n" {
					t.Errorf("stdout %q", res.Stdout)
				}
			},
		},
		{
			name: "working directory",
			req:  ExecRequest{Argv: []string{"pwd"}, Dir: dir},
			check: func(t *testing.T, res *ExecResult) {
				if strings.TrimSpace(string(res.Stdout)) != dir {
					t.Errorf("stdout %q, want %q", res.Stdout, dir)
				}
			},
		},
		{
			name: "output capped and flagged",
			req:  ExecRequest{Argv: []string{"sh", "-c", "head -c 5000 /dev/zero; head -c 10 /dev/zero >&2"}, MaxOutput: 1000},
			check: func(t *testing.T, res *ExecResult) {
				if len(res.Stdout) != 1000 || !res.StdoutTruncated || len(res.Stderr) != 10 || res.StderrTruncated {
					t.Errorf("stdout %d bytes truncated=%v, stderr %d truncated=%v", len(res.Stdout), res.StdoutTruncated, len(res.Stderr), res.StderrTruncated)
				}
			},
		},
		{
			name: "duration measured",
			req:  ExecRequest{Argv: []string{"sleep", "0.1"}},
			check: func(t *testing.T, res *ExecResult) {
				if res.Duration < 100*time.Millisecond || res.Duration > 5*time.Second {
					t.Errorf("duration %v", res.Duration)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Executor
			res, err := e.Run(context.Background(), &tt.req, nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, res)
		})
	}
}

func TestExecutorErrors(t *testing.T) {
	tests := []struct {
		name string
		req  ExecRequest
		want error
	}{
		{"empty argv", ExecRequest{}, ErrBadRequest},
		{"missing program", ExecRequest{Argv: []string{"/nonexistent/vmctl-test"}}, ErrNotFound},
		{"missing program on PATH", ExecRequest{Argv: []string{"vmctl-no-such-program"}}, ErrNotFound},
		{"missing directory", ExecRequest{Argv: []string{"true"}, Dir: "/nonexistent/dir"}, ErrNotFound},
		{"relative directory", ExecRequest{Argv: []string{"true"}, Dir: "tmp"}, ErrBadRequest},
		{"bad env", ExecRequest{Argv: []string{"true"}, Env: []string{"NOEQUALS"}}, ErrBadRequest},
		{"cap too large", ExecRequest{Argv: []string{"true"}, MaxOutput: MaxExecOutput + 1}, ErrBadRequest},
		// Stream without an output function still buffers, so the buffered
		// cap applies.
		{"stream flag alone allows no larger cap", ExecRequest{Argv: []string{"true"}, MaxOutput: MaxExecOutput + 1, Stream: true}, ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Executor
			_, err := e.Run(context.Background(), &tt.req, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestExecutorTimeoutKillsProcessGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	pidFile := t.TempDir() + "/pid"
	var e Executor
	// The background sleep is a grandchild in the same process group; it
	// must die with the shell or it would hold the output pipe open.
	req := &ExecRequest{Argv: []string{"sh", "-c", "sleep 30 & echo $! > " + pidFile + "; wait"}}
	began := time.Now()
	res, err := e.Run(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.Signal != "SIGKILL" {
		t.Errorf("result = %+v, want timed out by SIGKILL", res)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("took %v, the timeout did not stop the command", took)
	}
	assertProcessGone(t, pidFile)
}

func TestExecutorStreams(t *testing.T) {
	var mu sync.Mutex
	chunks := map[string][][]byte{}
	out := func(_ context.Context, stream string, data []byte) error {
		mu.Lock()
		defer mu.Unlock()
		chunks[stream] = append(chunks[stream], bytes.Clone(data))
		return nil
	}
	var e Executor
	req := &ExecRequest{Argv: []string{"sh", "-c", "head -c 100000 /dev/zero; echo err >&2"}, MaxOutput: 70000}
	res, err := e.Run(context.Background(), req, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != 0 || !res.StdoutTruncated || res.StderrTruncated {
		t.Errorf("result = %+v, want no inline output and stdout truncated", res)
	}
	total := 0
	for _, c := range chunks[StreamStdout] {
		if len(c) > MaxChunkSize {
			t.Errorf("chunk of %d bytes", len(c))
		}
		total += len(c)
	}
	if total != 70000 {
		t.Errorf("streamed %d stdout bytes, want 70000", total)
	}
	if got := bytes.Join(chunks[StreamStderr], nil); string(got) != "err\n" {
		t.Errorf("stderr %q", got)
	}
}

// TestExecutorStreamCap checks the cap of streamed output, which may pass
// MaxExecOutput: exactly the cap is sent, the rest dropped and flagged,
// and the command still runs to the end rather than blocking on a full
// pipe.
func TestExecutorStreamCap(t *testing.T) {
	tests := []struct {
		name      string
		maxOutput int64
		produce   int64
		want      error
	}{
		{name: "above the buffered cap, truncated", maxOutput: MaxExecOutput + 1<<20, produce: 8 << 20},
		{name: "above the buffered cap, all of it", maxOutput: MaxExecOutput + 1<<20, produce: MaxExecOutput + 1<<20},
		{name: "largest allowed", maxOutput: MaxStreamExecOutput, produce: 1 << 20},
		{name: "above the stream cap", maxOutput: MaxStreamExecOutput + 1, want: ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var sent int64
			out := func(_ context.Context, stream string, data []byte) error {
				mu.Lock()
				defer mu.Unlock()
				if stream == StreamStdout {
					sent += int64(len(data))
				}
				return nil
			}
			script := "head -c " + strconv.FormatInt(tt.produce, 10) + " /dev/zero; echo finished >&2"
			req := &ExecRequest{Argv: []string{"sh", "-c", script}, MaxOutput: tt.maxOutput, Stream: true}
			var e Executor
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := e.Run(ctx, req, out)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			wantSent := min(tt.produce, tt.maxOutput)
			if sent != wantSent || res.StdoutTruncated != (tt.produce > tt.maxOutput) {
				t.Errorf("sent %d bytes, truncated %v; want %d bytes, truncated %v", sent, res.StdoutTruncated, wantSent, tt.produce > tt.maxOutput)
			}
			if res.ExitCode != 0 || res.TimedOut {
				t.Errorf("result %+v: the command did not finish on its own", res)
			}
		})
	}
}
