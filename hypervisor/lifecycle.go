package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vmctl/vmctl/agent"
)

// List returns vmctl's VMs on this host.
func (m *Manager) List(ctx context.Context) ([]DomainInfo, error) {
	return m.backend.List(ctx)
}

// Show returns one VM.
func (m *Manager) Show(ctx context.Context, name string) (DomainInfo, error) {
	if err := ValidateName(name); err != nil {
		return DomainInfo{}, err
	}
	return m.backend.Lookup(ctx, name)
}

// Exec runs argv in the guest, streaming output to stdout and stderr.
func (m *Manager) Exec(ctx context.Context, name string, req *agent.ExecRequest, stdout, stderr io.Writer) (*agent.ExecResult, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	c, err := m.Agent(ctx, name)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res, err := c.Exec(ctx, req, stdout, stderr)
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", name, err)
	}
	return res, nil
}

// Start boots a stopped VM and waits for its agent.
func (m *Manager) Start(ctx context.Context, name string) (*AgentHello, error) {
	info, err := m.Show(ctx, name)
	if err != nil {
		return nil, err
	}
	if info.State != StateShutoff {
		return nil, fmt.Errorf("start %s: already %s", name, info.State)
	}
	if err := m.backend.Start(ctx, name); err != nil {
		return nil, err
	}
	c, err := m.waitAgent(ctx, name)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	hello := c.Hello()
	return &hello, m.mountShares(ctx, c, info.Meta.Shares)
}

// StopResult says how a VM stopped.
type StopResult struct {
	// Forced is true when the guest did not power off in time and was
	// destroyed.
	Forced bool
	Took   time.Duration
}

// Stop asks the agent to power off, waits up to Timeouts.Poweroff, then
// destroys the domain. Stopping a stopped VM is a no-op.
func (m *Manager) Stop(ctx context.Context, name string) (*StopResult, error) {
	info, err := m.Show(ctx, name)
	if err != nil {
		return nil, err
	}
	start := m.now()
	if info.State == StateShutoff {
		return &StopResult{}, nil
	}
	pctx, cancel := context.WithTimeout(ctx, m.cfg.Timeouts.Poweroff)
	defer cancel()
	if err := m.poweroff(pctx, name); err != nil {
		m.log.WithError(err).Infof("clean poweroff of %s failed; forcing", name)
	} else if err := m.waitState(pctx, name, StateShutoff); err == nil {
		return &StopResult{Took: m.now().Sub(start)}, nil
	}
	if err := m.backend.Destroy(ctx, name); err != nil {
		return nil, fmt.Errorf("stop %s: %w", name, err)
	}
	return &StopResult{Forced: true, Took: m.now().Sub(start)}, nil
}

func (m *Manager) poweroff(ctx context.Context, name string) error {
	c, err := m.connectAgent(ctx, name)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Poweroff(ctx)
}

func (m *Manager) waitState(ctx context.Context, name string, want DomainState) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := m.backend.Lookup(ctx, name)
		if err != nil {
			return err
		}
		if info.State == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to be %s: %w", name, want, ctx.Err())
		case <-tick.C:
		}
	}
}

// Remove destroys and undefines the VM and deletes every file vmctl made
// for it. A missing domain still has its leftover state directory removed,
// and reports ErrNotFound. A state directory that cannot be removed once
// the domain is gone is named in a *LeftBehind.
func (m *Manager) Remove(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	_, err := m.backend.Lookup(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		os.RemoveAll(m.StateDir(name))
		if IsLocalURI(m.backend.URI()) {
			m.removeScratch(m.scratchPath(name))
		}
		return fmt.Errorf("remove %s: %w", name, err)
	case err != nil:
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := m.backend.Destroy(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := m.backend.Undefine(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if IsLocalURI(m.backend.URI()) {
		m.removeScratch(m.scratchPath(name))
	}
	if err := os.RemoveAll(m.StateDir(name)); err != nil {
		// The domain is gone; only its directory on this machine stays.
		dir := m.StateDir(name)
		return JoinLeftovers([]Leftover{NewLeftover("statedir", "", name, dir,
			fmt.Sprintf("`vmctl vm rm %s` again, or remove %s by hand", name, dir), fmt.Errorf("remove %s: state dir: %w", name, err))})
	}
	return nil
}

// Pause freezes a running VM's vCPUs (libvirt suspend): it keeps its memory
// and its agent connection, and resumes in a fraction of a boot.
func (m *Manager) Pause(ctx context.Context, name string) error {
	if err := m.backend.Suspend(ctx, name); err != nil {
		return fmt.Errorf("pause %s: %w", name, err)
	}
	return nil
}

// Resume continues a paused VM.
func (m *Manager) Resume(ctx context.Context, name string) error {
	if err := m.backend.Resume(ctx, name); err != nil {
		return fmt.Errorf("resume %s: %w", name, err)
	}
	return nil
}
