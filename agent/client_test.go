package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingHandler serves from testdata/proc and records mount and
// poweroff calls instead of acting on them.
type recordingHandler struct {
	LocalHandler
	mu     sync.Mutex
	mounts []MountRequest
}

func (h *recordingHandler) Mount(_ context.Context, req *MountRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mounts = append(h.mounts, *req)
	return nil
}

func newRecordingHandler() *recordingHandler {
	return &recordingHandler{LocalHandler: LocalHandler{ProcRoot: "testdata/proc", AgentVersion: "test-1"}}
}

func TestClientHello(t *testing.T) {
	c := servePipe(t, newRecordingHandler(), nil)
	info := c.Hello()
	if info.ProtocolVersion != ProtocolVersion || info.AgentVersion != "test-1" || info.KernelRelease != "6.1.0-vmctl" || info.UptimeSeconds != 1234.56 {
		t.Errorf("hello = %+v", info)
	}
	if len(info.Nonce) != 32 {
		t.Errorf("nonce %q, want 16 random bytes in hex", info.Nonce)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("ping: %v", err)
	}
	if c.Err() != nil {
		t.Errorf("Err() = %v on a live connection", c.Err())
	}
}

func TestClientStats(t *testing.T) {
	c := servePipe(t, newRecordingHandler(), nil)
	st, err := c.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.NumCPU != 2 || st.Memory.Total != 2000000<<10 || st.CPU.Idle != 4000*nsPerTick {
		t.Errorf("stats = %+v", st)
	}
}

func TestClientMount(t *testing.T) {
	h := newRecordingHandler()
	c := servePipe(t, h, nil)
	rw := false
	tests := []struct {
		name     string
		req      MountRequest
		wantErr  error
		readOnly bool
	}{
		{name: "read-only by default", req: MountRequest{Tag: "share0", Target: "/mnt/share"}, readOnly: true},
		{name: "read-write when asked", req: MountRequest{Tag: "share1", Target: "/mnt/rw", ReadOnly: &rw}, readOnly: false},
		{name: "relative target refused", req: MountRequest{Tag: "share2", Target: "mnt"}, wantErr: ErrBadRequest},
		{name: "tag smuggling options refused", req: MountRequest{Tag: "a,cache=loose", Target: "/mnt/x"}, wantErr: ErrBadRequest},
		{name: "unclean target refused", req: MountRequest{Tag: "t", Target: "/mnt/../etc"}, wantErr: ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.mu.Lock()
			h.mounts = nil
			h.mu.Unlock()
			err := c.Mount(context.Background(), &tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if tt.wantErr != nil {
				if len(h.mounts) != 0 {
					t.Errorf("invalid request reached the handler: %+v", h.mounts)
				}
				return
			}
			if len(h.mounts) != 1 || h.mounts[0].Tag != tt.req.Tag || h.mounts[0].IsReadOnly() != tt.readOnly {
				t.Errorf("handler saw %+v", h.mounts)
			}
		})
	}
}

func TestClientRemoteErrors(t *testing.T) {
	c := servePipe(t, &LocalHandler{ProcRoot: "testdata/proc"}, nil)
	tests := []struct {
		name     string
		call     func() error
		wantCode string
		want     error
	}{
		{"poweroff unsupported", func() error { return c.Poweroff(context.Background()) }, CodeUnsupported, ErrUnsupported},
		{"mount unsupported", func() error {
			return c.Mount(context.Background(), &MountRequest{Tag: "t", Target: "/mnt/t"})
		}, CodeUnsupported, ErrUnsupported},
		{"exec of missing program", func() error {
			_, err := c.Exec(context.Background(), &ExecRequest{Argv: []string{"/no/such/program"}}, nil, nil)
			return err
		}, CodeNotFound, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var remote *RemoteError
			if !errors.As(err, &remote) || remote.Code != tt.wantCode || remote.Message == "" {
				t.Fatalf("error = %#v, want RemoteError %s", err, tt.wantCode)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v does not match %v", err, tt.want)
			}
		})
	}
}

func TestClientExec(t *testing.T) {
	c := servePipe(t, newRecordingHandler(), nil)
	dir := t.TempDir()
	tests := []struct {
		name  string
		req   ExecRequest
		check func(t *testing.T, res *ExecResult)
	}{
		{
			name: "exit code",
			req:  ExecRequest{Argv: []string{"sh", "-c", "echo hi; exit 7"}},
			check: func(t *testing.T, res *ExecResult) {
				if res.ExitCode != 7 || string(res.Stdout) != "hi\n" {
					t.Errorf("result %+v", res)
				}
			},
		},
		{
			name: "signal",
			req:  ExecRequest{Argv: []string{"sh", "-c", "kill -KILL $$"}},
			check: func(t *testing.T, res *ExecResult) {
				if res.ExitCode != -1 || res.Signal != "SIGKILL" || res.TimedOut {
					t.Errorf("result %+v", res)
				}
			},
		},
		{
			name: "timeout kills the process",
			req:  ExecRequest{Argv: []string{"sleep", "30"}, Timeout: 200 * time.Millisecond},
			check: func(t *testing.T, res *ExecResult) {
				if !res.TimedOut || res.Signal != "SIGKILL" || res.Duration > 5*time.Second {
					t.Errorf("result %+v", res)
				}
			},
		},
		{
			name: "stdin env and dir",
			req: ExecRequest{Argv: []string{"sh", "-c", `read line; echo "$line $GREETING $(pwd)"`},
				Stdin: []byte("from-stdin\n"), Env: []string{"GREETING=hello"}, Dir: dir},
			check: func(t *testing.T, res *ExecResult) {
				if want := "from-stdin hello " + dir + "\n"; string(res.Stdout) != want {
					t.Errorf("stdout %q, want %q", res.Stdout, want)
				}
			},
		},
		{
			name: "output cap and truncated flag",
			req:  ExecRequest{Argv: []string{"sh", "-c", "head -c 3000 /dev/zero; head -c 3000 /dev/zero >&2"}, MaxOutput: 2048},
			check: func(t *testing.T, res *ExecResult) {
				if len(res.Stdout) != 2048 || len(res.Stderr) != 2048 || !res.StdoutTruncated || !res.StderrTruncated {
					t.Errorf("stdout %d/%v stderr %d/%v", len(res.Stdout), res.StdoutTruncated, len(res.Stderr), res.StderrTruncated)
				}
			},
		},
		{
			name: "default cap is 1 MiB",
			req:  ExecRequest{Argv: []string{"head", "-c", "1100000", "/dev/zero"}},
			check: func(t *testing.T, res *ExecResult) {
				if len(res.Stdout) != DefaultExecOutput || !res.StdoutTruncated {
					t.Errorf("stdout %d bytes truncated=%v", len(res.Stdout), res.StdoutTruncated)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Exec(context.Background(), &tt.req, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, res)
		})
	}
}

func TestClientExecStreaming(t *testing.T) {
	c := servePipe(t, newRecordingHandler(), nil)
	tests := []struct {
		name          string
		req           ExecRequest
		stderrWriter  bool
		wantStdout    int
		wantStderr    string
		wantTruncated bool
	}{
		{
			name:         "both streams",
			req:          ExecRequest{Argv: []string{"sh", "-c", "head -c 100000 /dev/zero; echo oops >&2"}},
			stderrWriter: true, wantStdout: 100000, wantStderr: "oops\n",
		},
		{
			name:         "capped",
			req:          ExecRequest{Argv: []string{"sh", "-c", "head -c 100000 /dev/zero"}, MaxOutput: 40000},
			stderrWriter: true, wantStdout: 40000, wantTruncated: true,
		},
		{
			name:       "nil stderr writer discards stderr",
			req:        ExecRequest{Argv: []string{"sh", "-c", "echo out; echo err >&2"}},
			wantStdout: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			var errW *bytes.Buffer
			if tt.stderrWriter {
				errW = &stderr
			}
			var res *ExecResult
			var err error
			if errW != nil {
				res, err = c.Exec(context.Background(), &tt.req, &stdout, errW)
			} else {
				res, err = c.Exec(context.Background(), &tt.req, &stdout, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Stdout) != 0 || len(res.Stderr) != 0 {
				t.Errorf("streamed result carries output: %+v", res)
			}
			if stdout.Len() != tt.wantStdout || stderr.String() != tt.wantStderr || res.StdoutTruncated != tt.wantTruncated {
				t.Errorf("stdout %d bytes, stderr %q, truncated %v", stdout.Len(), stderr.String(), res.StdoutTruncated)
			}
		})
	}
}

// TestClientExecStreamCap checks that a caller streaming to writers may
// ask for more than MaxExecOutput and gets exactly the cap, while a
// caller without writers, whose output comes back in one frame, may not.
func TestClientExecStreamCap(t *testing.T) {
	c := servePipe(t, newRecordingHandler(), nil)
	const capped = MaxExecOutput + 1<<20
	produce := "head -c " + strconv.Itoa(capped+1<<20) + " /dev/zero; echo finished >&2"
	tests := []struct {
		name      string
		maxOutput int64
		writers   bool
		want      error
	}{
		{name: "streamed above the buffered cap", maxOutput: capped, writers: true},
		{name: "buffered above its cap", maxOutput: capped, want: ErrBadRequest},
		{name: "streamed above the stream cap", maxOutput: MaxStreamExecOutput + 1, writers: true, want: ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			req := &ExecRequest{Argv: []string{"sh", "-c", produce}, MaxOutput: tt.maxOutput}
			var res *ExecResult
			var err error
			if tt.writers {
				res, err = c.Exec(context.Background(), req, &stdout, &stderr)
			} else {
				res, err = c.Exec(context.Background(), req, nil, nil)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				var remote *RemoteError
				if errors.As(err, &remote) {
					t.Errorf("refused by the guest, not before sending: %v", err)
				}
				return
			}
			if stdout.Len() != capped || !res.StdoutTruncated || stderr.String() != "finished\n" || res.ExitCode != 0 {
				t.Errorf("stdout %d bytes (want %d), truncated %v, stderr %q, exit %d", stdout.Len(), capped, res.StdoutTruncated, stderr.String(), res.ExitCode)
			}
		})
	}
}

// TestClientConcurrentExecs runs several commands at once that finish in
// the reverse of the order they were sent.
func TestClientConcurrentExecs(t *testing.T) {
	c := servePipe(t, newRecordingHandler(), nil)
	const n = 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	var finished []int
	errs := make([]error, n)
	began := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			delay := fmt.Sprintf("%.2f", float64(n-i)*0.15)
			res, err := c.Exec(context.Background(), &ExecRequest{Argv: []string{"sh", "-c", "sleep " + delay + "; echo " + fmt.Sprint(i)}}, nil, nil)
			if err == nil && strings.TrimSpace(string(res.Stdout)) != fmt.Sprint(i) {
				err = fmt.Errorf("exec %d got stdout %q", i, res.Stdout)
			}
			errs[i] = err
			mu.Lock()
			finished = append(finished, i)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("took %v: requests did not run concurrently", took)
	}
	if finished[0] != n-1 || finished[n-1] != 0 {
		t.Errorf("completion order %v, want the last sent first", finished)
	}
}

func TestClientServerTimeoutClamp(t *testing.T) {
	c := servePipe(t, newRecordingHandler(), []ServerOption{WithMaxRequestTimeout(300 * time.Millisecond)})
	res, err := c.Exec(context.Background(), &ExecRequest{Argv: []string{"sleep", "30"}, Timeout: time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.Duration > 5*time.Second {
		t.Errorf("server max timeout not applied: %+v", res)
	}
}

func TestClientExecCallerDeadline(t *testing.T) {
	c := servePipe(t, newRecordingHandler(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	res, err := c.Exec(ctx, &ExecRequest{Argv: []string{"sleep", "30"}}, nil, nil)
	if err != nil {
		t.Fatalf("the guest should time the command out before the caller's deadline: %v", err)
	}
	if !res.TimedOut {
		t.Errorf("result %+v, want timed out", res)
	}
}

func TestClientLowFrameLimitStillExecs(t *testing.T) {
	c := servePipe(t, newRecordingHandler(), nil, WithClientMaxFrameSize(100<<10))
	res, err := c.Exec(context.Background(), &ExecRequest{Argv: []string{"head", "-c", "500000", "/dev/zero"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != 500000 || res.StdoutTruncated {
		t.Errorf("stdout %d bytes truncated=%v", len(res.Stdout), res.StdoutTruncated)
	}
}

func TestClientCloseFailsPendingCalls(t *testing.T) {
	c := servePipe(t, newRecordingHandler(), nil)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), &ExecRequest{Argv: []string{"sleep", "30"}}, nil, nil)
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("pending exec error = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending exec did not return after Close")
	}
	<-c.Done()
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err() = %v", c.Err())
	}
	if err := c.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("ping after close = %v", err)
	}
}
