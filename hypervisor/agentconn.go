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
func (m *Manager) Agent(ctx context.Context, name string) (*agent.Client, error) {
	hctx, cancel := context.WithTimeout(ctx, m.cfg.Timeouts.Handshake)
	defer cancel()
	return m.connectAgent(hctx, name)
}

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
				hello := c.Hello()
				c.Close()
				return &hello, nil
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

func (m *Manager) mountShares(ctx context.Context, name string, shares []Share) error {
	if len(shares) == 0 {
		return nil
	}
	c, err := m.Agent(ctx, name)
	if err != nil {
		return err
	}
	defer c.Close()
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
