package jobs

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vmctl/vmctl/agent"
)

// NativeProvider runs partitions as processes on this host, through an
// in-process agent over a pipe: the same requests, argv, environment and
// built-in binary as in a VM, so the two runs differ only in where the
// process runs.
type NativeProvider struct {
	Spec *Spec
	// AgentPath is the host's vmctl-agent binary, which holds the built-ins.
	AgentPath string
	// WorkDir holds per-worker output directories (under the job dir).
	WorkDir string

	mu      sync.Mutex
	cancels map[string]context.CancelFunc
}

func (n *NativeProvider) Kind() string { return "native" }

func (n *NativeProvider) Start(ctx context.Context, name string) (*Worker, error) {
	if n.Spec.Workload.Builtin != "" {
		if _, err := os.Stat(n.AgentPath); err != nil {
			return nil, fmt.Errorf("native run needs the vmctl-agent binary for built-ins: %w (build it with `make build` or pass --agent)", err)
		}
	}
	out := filepath.Join(n.WorkDir, name)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	host, guest := net.Pipe()
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go agent.ServeConn(sctx, guest, &agent.LocalHandler{AgentVersion: "native"})
	c, err := agent.NewClient(ctx, host)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("native worker %s: %w", name, err)
	}
	n.mu.Lock()
	if n.cancels == nil {
		n.cancels = map[string]context.CancelFunc{}
	}
	n.cancels[name] = cancel
	n.mu.Unlock()
	return &Worker{Name: name, Host: "native", Client: c, InputsRoot: n.Spec.Inputs, OutputRoot: out, AgentPath: n.AgentPath}, nil
}

func (n *NativeProvider) Stop(ctx context.Context, w *Worker) error {
	w.Client.Close()
	n.mu.Lock()
	cancel := n.cancels[w.Name]
	delete(n.cancels, w.Name)
	n.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return os.RemoveAll(w.OutputRoot)
}

func (n *NativeProvider) Alive(ctx context.Context, w *Worker) bool {
	select {
	case <-w.Client.Done():
		return false
	default:
		return true
	}
}

func (n *NativeProvider) Cleanup(ctx context.Context, jobID string) ([]string, error) {
	entries, _ := os.ReadDir(n.WorkDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, os.RemoveAll(n.WorkDir)
}

func (n *NativeProvider) Pause(context.Context, *Worker) error  { return ErrUnsupported }
func (n *NativeProvider) Resume(context.Context, *Worker) error { return ErrUnsupported }
func (n *NativeProvider) CPUTime(context.Context, *Worker) (time.Duration, error) {
	return 0, ErrUnsupported
}
