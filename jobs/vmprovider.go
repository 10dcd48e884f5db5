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
		Job: v.JobID, ScratchMiB: t.ScratchMiB, TBCacheMiB: t.TBCacheMiB,
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
		m := v.Fleet.Member(res.Host)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		m.Manager.Remove(rctx, name)
		return nil, fmt.Errorf("start %s: create returned no agent connection", name)
	}
	return &Worker{Name: name, Host: res.Host, Client: res.Agent, InputsRoot: guestInputs, OutputRoot: guestOutputs, AgentPath: GuestAgentPath}, nil
}

func (v *VMProvider) Stop(ctx context.Context, w *Worker) error {
	w.Client.Close()
	m := v.Fleet.Member(w.Host)
	if m == nil || m.Manager == nil {
		return fmt.Errorf("stop %s: host %s is not open", w.Name, w.Host)
	}
	if err := m.Manager.Remove(ctx, w.Name); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		return err
	}
	return nil
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

func (v *VMProvider) Cleanup(ctx context.Context, jobID string) ([]string, error) {
	vms, err := v.Fleet.List(ctx)
	if err != nil && len(vms) == 0 {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, vm := range vms {
		if vm.Meta.Job != jobID {
			continue
		}
		m := v.Fleet.Member(vm.Host)
		if m == nil || m.Manager == nil {
			continue
		}
		if err := m.Manager.Remove(ctx, vm.Name); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, vm.Name)
	}
	return removed, errors.Join(errs...)
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
