package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ProcessStarter starts and waits for the processes exec runs. A PID-1
// reaper supplies its own so it can tell these children from orphans.
type ProcessStarter interface {
	Start(ctx context.Context, cmd *exec.Cmd) error
	Wait(ctx context.Context, cmd *exec.Cmd) error
}

// OutputFunc receives streamed output. Chunks are at most MaxChunkSize.
type OutputFunc func(ctx context.Context, stream string, data []byte) error

// defaultWaitDelay bounds how long a finished command's output is awaited
// when something it started in the background still holds the pipes.
const defaultWaitDelay = time.Second

// Executor runs exec requests. The zero value is ready to use.
type Executor struct {
	// Starter is nil for plain cmd.Start and cmd.Wait.
	Starter ProcessStarter
	// WaitDelay overrides defaultWaitDelay when positive.
	WaitDelay time.Duration
}

// Run runs req until it exits or ctx ends. When ctx's deadline expires the
// whole process group is killed and the result says TimedOut. When out is
// non-nil output goes to it, capped, and the result carries none.
func (e *Executor) Run(ctx context.Context, req *ExecRequest, out OutputFunc) (*ExecResult, error) {
	// Only streamed output may exceed MaxExecOutput: buffered, it would
	// have to fit one response frame.
	if err := req.validate(out != nil); err != nil {
		return nil, err
	}
	var killed atomic.Bool
	cmd := exec.CommandContext(ctx, req.Argv[0], req.Argv[1:]...)
	// Its own process group, so a timeout also kills whatever it spawned.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		killed.Store(true)
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = defaultWaitDelay
	if e.WaitDelay > 0 {
		cmd.WaitDelay = e.WaitDelay
	}
	cmd.Env = append(os.Environ(), req.Env...)
	cmd.Dir = req.Dir
	if len(req.Stdin) > 0 {
		cmd.Stdin = bytes.NewReader(req.Stdin)
	}
	limit := req.OutputCap()
	var stdout, stderr cappedOutput
	if out != nil {
		stdout = &streamWriter{ctx: ctx, stream: StreamStdout, limit: limit, out: out}
		stderr = &streamWriter{ctx: ctx, stream: StreamStderr, limit: limit, out: out}
	} else {
		stdout = &cappedBuffer{limit: limit}
		stderr = &cappedBuffer{limit: limit}
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	starter := e.Starter
	if starter == nil {
		starter = plainStarter{}
	}
	began := time.Now()
	if err := starter.Start(ctx, cmd); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("agent: exec %s: %w: %w", req.Argv[0], ErrNotFound, err)
		}
		return nil, fmt.Errorf("agent: exec %s: %w", req.Argv[0], err)
	}
	waitErr := starter.Wait(ctx, cmd)
	res := &ExecResult{Duration: time.Since(began)}
	if cmd.ProcessState == nil {
		return nil, fmt.Errorf("agent: exec %s: wait: %w", req.Argv[0], waitErr)
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	res.ExitCode = ws.ExitStatus()
	if ws.Signaled() {
		res.ExitCode = -1
		res.Signal = signalName(ws.Signal())
	}
	res.TimedOut = killed.Load() && errors.Is(ctx.Err(), context.DeadlineExceeded)
	res.Stdout, res.StdoutTruncated = stdout.result()
	res.Stderr, res.StderrTruncated = stderr.result()
	return res, nil
}

func signalName(s syscall.Signal) string {
	if name := unix.SignalName(s); name != "" {
		return name
	}
	return "SIG" + strconv.Itoa(int(s))
}

type plainStarter struct{}

func (plainStarter) Start(_ context.Context, cmd *exec.Cmd) error { return cmd.Start() }
func (plainStarter) Wait(_ context.Context, cmd *exec.Cmd) error  { return cmd.Wait() }
