package agent

import (
	"context"
	"fmt"
)

// Handler implements the operations a server offers. The server owns
// framing, ids, validation and per-request deadlines; a handler sees a
// decoded, validated request and a context that ends at its deadline.
type Handler interface {
	Hello(ctx context.Context) (*HelloInfo, error)
	// Exec runs a command; out is non-nil when the host asked for streaming.
	Exec(ctx context.Context, req *ExecRequest, out OutputFunc) (*ExecResult, error)
	Stats(ctx context.Context) (*GuestStats, error)
	Mount(ctx context.Context, req *MountRequest) error
	// Poweroff must return before the machine goes down so the reply
	// reaches the host.
	Poweroff(ctx context.Context) error
}

// LocalHandler serves hello, exec and stats from the machine it runs on.
// Mount and Poweroff report ErrUnsupported; the guest binary embeds it and
// supplies those.
type LocalHandler struct {
	// ProcRoot is where procfs is mounted; empty means DefaultProcRoot.
	ProcRoot     string
	AgentVersion string
	Boot         BootInfo
	Executor     Executor
}

var _ Handler = (*LocalHandler)(nil)

func (h *LocalHandler) procRoot() string {
	if h.ProcRoot == "" {
		return DefaultProcRoot
	}
	return h.ProcRoot
}

// Hello reports what it can: a guest whose /proc is broken should still
// be reachable so the host can find out why.
func (h *LocalHandler) Hello(ctx context.Context) (*HelloInfo, error) {
	info := &HelloInfo{
		ProtocolVersion: ProtocolVersion,
		AgentVersion:    h.AgentVersion,
		Boot:            h.Boot,
	}
	info.KernelRelease, _ = ReadKernelRelease(ctx, h.procRoot())
	info.UptimeSeconds, _ = ReadUptime(ctx, h.procRoot())
	return info, nil
}

func (h *LocalHandler) Exec(ctx context.Context, req *ExecRequest, out OutputFunc) (*ExecResult, error) {
	return h.Executor.Run(ctx, req, out)
}

func (h *LocalHandler) Stats(ctx context.Context) (*GuestStats, error) {
	return ReadStats(ctx, h.procRoot())
}

func (h *LocalHandler) Mount(context.Context, *MountRequest) error {
	return fmt.Errorf("agent: mount: %w", ErrUnsupported)
}

func (h *LocalHandler) Poweroff(context.Context) error {
	return fmt.Errorf("agent: poweroff: %w", ErrUnsupported)
}
