package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/scheduler"
)

// GuestAgentPath is the agent binary inside the guest: it is /init.
const GuestAgentPath = "/init"

// guestInputs and guestOutputs are where partitions see their files.
const (
	guestInputs  = "/mnt/inputs"
	guestOutputs = "/tmp/vmctl-out"
)

// VMProvider runs workers as VMs placed by the scheduler over a fleet.
type VMProvider struct {
	Spec   *Spec
	JobID  string
	Fleet  *scheduler.Fleet
	Claims *scheduler.ClaimStore
	Policy scheduler.Policy
	Image  hypervisor.BootImage
	// Owner is recorded on every VM as the process its life is bound to,
	// so `vmctl gc` removes the workers of a vmctl that died. nil: this
	// process.
	Owner *hypervisor.Owner
}

func (v *VMProvider) Kind() string { return "vm" }

// createRequest is the VM the spec's template describes. The inputs are
// shared read-only; other shares as the spec says.
func (v *VMProvider) createRequest(name string) (hypervisor.CreateRequest, error) {
	t := v.Spec.VM
	accel, err := hypervisor.ParseAccel(t.Accel)
	if err != nil {
		return hypervisor.CreateRequest{}, err
	}
	req := hypervisor.CreateRequest{
		Name: name, VCPUs: t.VCPUs, MemoryMiB: t.MemoryMiB, Accel: accel, Image: v.Image,
		Job: v.JobID, ScratchMiB: t.ScratchMiB, TBCacheMiB: t.TBCacheMiB, Owner: v.Owner,
	}
	if req.Owner == nil {
		req.Owner = hypervisor.SelfOwner()
	}
	if v.Spec.Inputs != "" {
		req.Shares = append(req.Shares, hypervisor.Share{HostDir: v.Spec.Inputs, Tag: "inputs"})
	}
	for _, s := range v.Spec.VM.Shares {
		req.Shares = append(req.Shares, hypervisor.Share{HostDir: s.Path, Tag: s.Tag, Writable: s.Writable})
	}
	return req, nil
}

func (v *VMProvider) Start(ctx context.Context, name string) (*Worker, error) {
	creq, err := v.createRequest(name)
	if err != nil {
		return nil, err
	}
	// The worker keeps the connection create made: reconnecting at once
	// would cost a round trip and race the guest's view of the port.
	creq.KeepAgent = true
	res, err := v.Fleet.Create(ctx, v.Claims, v.Policy, scheduler.Request{Pin: v.Spec.VM.Pin}, creq)
	if err != nil {
		return nil, err
	}
	if res.Agent == nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), WorkerStopTimeout)
		defer cancel()
		return nil, errors.Join(fmt.Errorf("start %s: create returned no agent connection", name), v.Fleet.RemoveOn(rctx, res.Host, name))
	}
	return &Worker{Name: name, Host: res.Host, Client: res.Agent, InputsRoot: guestInputs, OutputRoot: guestOutputs, AgentPath: GuestAgentPath}, nil
}

// Stop removes the worker's VM. A VM that may still be there is named in a
// *hypervisor.LeftBehind.
func (v *VMProvider) Stop(ctx context.Context, w *Worker) error {
	w.Client.Close()
	return v.Fleet.RemoveOn(ctx, w.Host, w.Name)
}

// Alive asks the agent; a VM whose agent does not answer within a few
// seconds is as good as gone for a job.
func (v *VMProvider) Alive(ctx context.Context, w *Worker) bool {
	select {
	case <-w.Client.Done():
		return false
	default:
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return w.Client.Ping(pctx) == nil
}

// Cleanup removes the job's VMs on every host that answers. A VM that
// could not be removed is named in a *hypervisor.LeftBehind; a host that
// could not be listed (its VMs, if any, are unknown) or a VM that is not
// vmctl's any more is reported wrapping ErrCleanupIncomplete.
func (v *VMProvider) Cleanup(ctx context.Context, jobID string) ([]string, error) {
	vms, listErr := v.Fleet.List(ctx)
	var incomplete []error
	if listErr != nil {
		incomplete = append(incomplete, listErr)
	}
	var removed []string
	var left []hypervisor.Leftover
	for _, vm := range vms {
		if vm.Meta.Job != jobID {
			continue
		}
		err := v.Fleet.RemoveOn(ctx, vm.Host, vm.Name)
		switch {
		case errors.Is(err, hypervisor.ErrLeftBehind):
			left = append(left, hypervisor.Leftovers(err)...)
		case err != nil:
			incomplete = append(incomplete, err)
		default:
			removed = append(removed, vm.Name)
		}
	}
	var incErr error
	if len(incomplete) > 0 {
		incErr = fmt.Errorf("workers of job %s: %w: %w", jobID, ErrCleanupIncomplete, errors.Join(incomplete...))
	}
	return removed, errors.Join(incErr, hypervisor.JoinLeftovers(left))
}

func (v *VMProvider) manager(w *Worker) (*hypervisor.Manager, error) {
	m := v.Fleet.Member(w.Host)
	if m == nil || m.Manager == nil {
		return nil, fmt.Errorf("%s: host %s is not open", w.Name, w.Host)
	}
	return m.Manager, nil
}

func (v *VMProvider) Pause(ctx context.Context, w *Worker) error {
	m, err := v.manager(w)
	if err != nil {
		return err
	}
	return m.Pause(ctx, w.Name)
}

func (v *VMProvider) Resume(ctx context.Context, w *Worker) error {
	m, err := v.manager(w)
	if err != nil {
		return err
	}
	return m.Resume(ctx, w.Name)
}

func (v *VMProvider) CPUTime(ctx context.Context, w *Worker) (time.Duration, error) {
	m, err := v.manager(w)
	if err != nil {
		return 0, err
	}
	info, err := m.Show(ctx, w.Name)
	if err != nil {
		return 0, err
	}
	return info.CPUTime, nil
}
