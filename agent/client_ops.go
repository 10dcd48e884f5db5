package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Ping checks that the agent answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.call(ctx, OpPing, c.cfg.timeouts.Ping, nil)
	return err
}

// Stats samples the guest's CPU, memory and load.
func (c *Client) Stats(ctx context.Context) (*GuestStats, error) {
	env, err := c.call(ctx, OpStats, c.cfg.timeouts.Stats, nil)
	if err != nil {
		return nil, err
	}
	var st GuestStats
	if err := json.Unmarshal(env.Body, &st); err != nil {
		return nil, fmt.Errorf("agent: stats: %w: %w", ErrProtocol, err)
	}
	if err := st.validate(); err != nil {
		return nil, err
	}
	return &st, nil
}

// Mount mounts a virtio 9p share in the guest, read-only unless asked.
func (c *Client) Mount(ctx context.Context, req *MountRequest) error {
	if err := req.Validate(); err != nil {
		return err
	}
	_, err := c.call(ctx, OpMount, c.cfg.timeouts.Mount, req)
	return err
}

// Poweroff asks the guest to power off. A nil error means the guest
// agreed; the connection then drops as the machine stops.
func (c *Client) Poweroff(ctx context.Context) error {
	_, err := c.call(ctx, OpPoweroff, c.cfg.timeouts.Poweroff, nil)
	return err
}

// Exec runs a command in the guest and waits for it.
//
// With nil writers the output comes back in the result. Otherwise output
// is streamed to the writers as it is produced (a nil one discards its
// stream) and the result carries none. Either way at most the request's
// cap is delivered per stream, and the truncated flags say whether more
// was produced. The cap may be up to MaxStreamExecOutput with writers and
// MaxExecOutput without. A non-zero exit status is not an error.
//
// The command's run time is req.Timeout, or the Exec timeout if unset,
// shortened to end somewhat before ctx's deadline; the guest then kills
// its process group and reports TimedOut. The call itself waits up to
// ExecGrace longer for that answer.
func (c *Client) Exec(ctx context.Context, req *ExecRequest, stdout, stderr io.Writer) (*ExecResult, error) {
	// The writers, not req.Stream, decide streaming, and with it how
	// large a cap the request may ask for.
	wire := *req
	wire.Stream = stdout != nil || stderr != nil
	if err := wire.Validate(); err != nil {
		return nil, err
	}
	run := req.Timeout
	if run == 0 {
		run = c.cfg.timeouts.Exec
	}
	if dl, ok := ctx.Deadline(); ok {
		// Stop the command a little before the caller's deadline so the
		// guest's "timed out" answer still arrives in time.
		left := time.Until(dl)
		run = min(run, left-min(c.cfg.timeouts.ExecGrace, left/4))
	}
	if run <= 0 {
		return nil, fmt.Errorf("agent: exec: %w", context.DeadlineExceeded)
	}
	ctx, cancel := context.WithTimeout(ctx, run+c.cfg.timeouts.ExecGrace)
	defer cancel()

	limit := req.OutputCap()
	// Output that could not fit one response frame is streamed into
	// buffers instead, so a lowered frame limit never breaks exec.
	var bufOut, bufErr *bytes.Buffer
	if !wire.Stream && 2*int64(base64.StdEncoding.EncodedLen(int(limit)))+4096 > int64(c.cfg.maxFrame) {
		bufOut, bufErr = new(bytes.Buffer), new(bytes.Buffer)
		stdout, stderr = bufOut, bufErr
		wire.Stream = true
	}
	var st *execStream
	var onEvent func(*Envelope) error
	if wire.Stream {
		st = &execStream{limit: limit, w: [2]io.Writer{stdout, stderr}}
		onEvent = st.onEvent
	}
	id, cl, err := c.start(ctx, OpExec, run, &wire, onEvent)
	if err != nil {
		return nil, err
	}
	var drain func() error
	if st != nil {
		drain = st.drain
	}
	env, err := c.await(ctx, id, cl, drain)
	if err != nil {
		return nil, err
	}
	var res ExecResult
	if err := json.Unmarshal(env.Body, &res); err != nil {
		return nil, fmt.Errorf("agent: exec: %w: %w", ErrProtocol, err)
	}
	if err := res.validate(limit, wire.Stream); err != nil {
		return nil, err
	}
	if st != nil {
		out, err := st.truncatedFlags()
		res.StdoutTruncated = res.StdoutTruncated || out
		res.StderrTruncated = res.StderrTruncated || err
	}
	if bufOut != nil {
		res.Stdout, res.Stderr = bufOut.Bytes(), bufErr.Bytes()
	}
	return &res, nil
}

// execStream collects streamed output on the reader goroutine and hands
// it to the caller's writers on the caller's goroutine, so a slow writer
// never stalls other calls. What it holds is bounded by the caps.
type execStream struct {
	limit int64
	w     [2]io.Writer

	mu        sync.Mutex
	queue     []ExecEvent
	got       [2]int64
	truncated [2]bool
}

func (s *execStream) onEvent(env *Envelope) error {
	var ev ExecEvent
	if err := json.Unmarshal(env.Body, &ev); err != nil {
		return fmt.Errorf("agent: exec: event: %w: %w", ErrProtocol, err)
	}
	var i int
	switch ev.Stream {
	case StreamStdout:
		i = 0
	case StreamStderr:
		i = 1
	default:
		return fmt.Errorf("agent: exec: event for stream %.32q: %w", ev.Stream, ErrProtocol)
	}
	if len(ev.Data) > MaxChunkSize {
		return fmt.Errorf("agent: exec: chunk of %d bytes exceeds %d: %w", len(ev.Data), MaxChunkSize, ErrProtocol)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := min(int64(len(ev.Data)), s.limit-s.got[i])
	if keep < int64(len(ev.Data)) {
		s.truncated[i] = true
	}
	if keep > 0 {
		s.got[i] += keep
		s.queue = append(s.queue, ExecEvent{Stream: ev.Stream, Data: ev.Data[:keep]})
	}
	return nil
}

func (s *execStream) truncatedFlags() (stdout, stderr bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.truncated[0], s.truncated[1]
}

func (s *execStream) drain() error {
	s.mu.Lock()
	queue := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, ev := range queue {
		i := 0
		if ev.Stream == StreamStderr {
			i = 1
		}
		if s.w[i] == nil {
			continue
		}
		if _, err := s.w[i].Write(ev.Data); err != nil {
			return fmt.Errorf("agent: exec: write %s: %w", ev.Stream, err)
		}
	}
	return nil
}
