package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vmctl/vmctl/agent"
)

// AgentHello is what the guest agent reports when a connection opens.
type AgentHello = agent.HelloInfo

// ErrGuestStopped: the domain stopped while vmctl waited for its agent.
var ErrGuestStopped = errors.New("guest stopped before its agent answered")

// Agent opens a connection to a running VM's agent and performs the hello
// handshake. The caller closes the client.
//
// The port is one byte stream that the guest sees close and reopen
// through asynchronous virtio-serial events: on a loaded host a hello sent
// right after an earlier connection closed can be lost in the switch. A
// new connection makes the guest start over, so an attempt that gets no
// answer is retried, all within Timeouts.Handshake.
func (m *Manager) Agent(ctx context.Context, name string) (*agent.Client, error) {
	hctx, cancel := context.WithTimeout(ctx, m.cfg.Timeouts.Handshake)
	defer cancel()
	attempt := min(agentAttempt, m.cfg.Timeouts.Handshake/4)
	// refused is the last attempt the guest itself failed (garbage, a
	// hang-up), as opposed to one that ran out of time.
	var refused error
	for {
		actx, acancel := context.WithTimeout(hctx, attempt)
		c, err := m.connectAgent(actx, name)
		acancel()
		retry := errors.Is(err, agent.ErrHandshake) && !errors.Is(err, agent.ErrVersionMismatch)
		if retry && !errors.Is(err, context.DeadlineExceeded) {
			refused = err
		}
		if err == nil || !retry || hctx.Err() != nil {
			if err != nil && refused != nil && ctx.Err() == nil && hctx.Err() != nil {
				// The budget ran out in a retry: how the guest failed
				// the earlier ones says more than the deadline.
				err = refused
			}
			return c, err
		}
		// A slow guest gets longer each time; a lost hello is noticed
		// after the first. The bound stops at the whole budget: a guest
		// that hangs up or answers with garbage fails an attempt in
		// milliseconds, and doubling on every one of them once overflowed
		// into a negative bound that reported a dial deadline instead of
		// the handshake. Such a guest is not redialed in a tight loop.
		attempt = min(2*attempt, m.cfg.Timeouts.Handshake)
		select {
		case <-time.After(agentRetryPause):
		case <-hctx.Done():
		}
	}
}

// agentRetryPause separates handshake attempts.
const agentRetryPause = 50 * time.Millisecond

// agentAttempt is one handshake attempt's first bound (at most a quarter
// of the whole): the guest answers within milliseconds when idle and
// within a second under heavy load.
const agentAttempt = 2 * time.Second

func (m *Manager) connectAgent(ctx context.Context, name string) (*agent.Client, error) {
	dial := func(ctx context.Context) (io.ReadWriteCloser, error) {
		return m.backend.OpenAgent(ctx, name)
	}
	c, err := agent.Connect(ctx, dial)
	if err != nil {
		return nil, fmt.Errorf("connect to agent of %s: %w", name, err)
	}
	return c, nil
}

// WaitReady waits until the VM's agent answers the handshake, bounded by
// Timeouts.AgentReady and ctx. A guest that stops on the way (kernel panic,
// agent crash) ends the wait at once with the tail of its console log.
func (m *Manager) WaitReady(ctx context.Context, name string) (*AgentHello, error) {
	c, err := m.waitAgent(ctx, name)
	if err != nil {
		return nil, err
	}
	hello := c.Hello()
	c.Close()
	return &hello, nil
}

// waitAgent is WaitReady returning the connection it made, for a caller
// with more to say: every reconnection costs a guest round trip and risks
// the lost hello Agent guards against.
func (m *Manager) waitAgent(ctx context.Context, name string) (*agent.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeouts.AgentReady)
	defer cancel()
	// One attempt stays open for up to a second: the hello sits in the
	// channel until the guest opens its port, so a long attempt loses no
	// latency, while a bounded one notices a dead guest quickly.
	const attempt = time.Second
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		info, err := m.backend.Lookup(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("wait for agent of %s: %w", name, err)
		}
		if info.State == StateShutoff || info.State == StateCrashed {
			return nil, fmt.Errorf("wait for agent of %s: %w%s", name, ErrGuestStopped, m.consoleTail(name))
		}
		if info.State == StateRunning {
			actx, acancel := context.WithTimeout(ctx, attempt)
			c, err := m.connectAgent(actx, name)
			acancel()
			if err == nil {
				return c, nil
			}
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = ctx.Err()
			}
			return nil, fmt.Errorf("wait for agent of %s: %w (last attempt: %v)%s", name, ctx.Err(), lastErr, m.consoleTail(name))
		case <-tick.C:
		}
	}
}

// consoleTail returns the last lines of the console log, for error messages
// about guests that failed to boot.
func (m *Manager) consoleTail(name string) string {
	data, err := os.ReadFile(m.consoleLog(name))
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\nlast console lines:\n  " + strings.Join(lines, "\n  ")
}

func (m *Manager) mountShares(ctx context.Context, c *agent.Client, shares []Share) error {
	for _, sh := range shares {
		cctx, cancel := context.WithTimeout(ctx, m.cfg.Timeouts.Call)
		ro := !sh.Writable
		err := c.Mount(cctx, &agent.MountRequest{Tag: sh.Tag, Target: sh.GuestPath(), ReadOnly: &ro})
		cancel()
		if err != nil {
			return fmt.Errorf("mount share %s at %s: %w", sh.Tag, sh.GuestPath(), err)
		}
	}
	return nil
}
