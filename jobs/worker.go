package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/vmctl/vmctl/agent"
)

// Worker is one place partitions run: a VM's agent, or an in-process agent
// that runs host processes (the native baseline). Both speak the same
// protocol, so the two runs differ only in where the process runs.
type Worker struct {
	Name string
	Host string
	// Client is the worker's agent; partitions share it (the protocol
	// multiplexes requests), so dispatch pays no connection set-up.
	Client *agent.Client
	// InputsRoot is where the spec's inputs directory appears to the
	// workload; OutputRoot is the parent of per-attempt output directories.
	InputsRoot string
	OutputRoot string
	// AgentPath runs built-ins: the same binary is /init in a guest.
	AgentPath string
}

// Provider brings workers up and down. The VM provider places and boots
// VMs through the scheduler; the native one runs on this host.
type Provider interface {
	// Kind is "vm" or "native", for reports.
	Kind() string
	// Start brings up a worker under name, ready to run partitions.
	Start(ctx context.Context, name string) (*Worker, error)
	// Stop releases the worker and everything it holds (the VM is removed).
	Stop(ctx context.Context, w *Worker) error
	// Alive reports whether a worker whose request failed can still run
	// partitions; a dead one is stopped and replaced.
	Alive(ctx context.Context, w *Worker) bool
	// Cleanup removes every worker a previous run of jobID left behind and
	// returns their names. Workers it could not remove are named in a
	// *hypervisor.LeftBehind, hosts it could not check in an error
	// wrapping ErrCleanupIncomplete; the job runs on without either.
	Cleanup(ctx context.Context, jobID string) ([]string, error)
	// Pause and Resume freeze and continue a worker, for the warm pool.
	// Providers that cannot return ErrUnsupported.
	Pause(ctx context.Context, w *Worker) error
	Resume(ctx context.Context, w *Worker) error
	// CPUTime is the worker's cumulative CPU time (a VM's vCPUs, as
	// libvirt counts it), or ErrUnsupported.
	CPUTime(ctx context.Context, w *Worker) (time.Duration, error)
}

// ErrUnsupported: the provider cannot do this (e.g. pause a host process).
var ErrUnsupported = errors.New("not supported by this provider")

// ErrCleanupIncomplete: Cleanup could not check every host (one did not
// answer). Workers an earlier run left there, if any, stay; they carry
// their dead owner, so `vmctl gc` removes them once the host answers.
var ErrCleanupIncomplete = errors.New("cleanup could not check every host")
