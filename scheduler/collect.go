package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
)

// HostTimeout bounds what placement and lookups wait for one host. A host
// that stopped answering (powered off, its network gone) holds a libvirt
// call until keepalive gives up on it, about 30 s; placement lists it as
// unreachable after this long instead, and goes on with the others.
const HostTimeout = 10 * time.Second

// collect builds the scheduler's view of one reachable host from its
// backend: topology and free memory from libvirt, usage from the vmctl VMs
// there (their definitions, so stopped VMs keep their claim on memory and
// pinned CPUs: they can be started again).
func collect(ctx context.Context, m *Member) Host {
	h := Host{Name: m.Spec.Name, URI: m.Spec.URI, Limits: m.Spec.Limits}
	if m.Err != nil {
		h.Err = m.Err.Error()
		return h
	}
	ctx, cancel := context.WithTimeout(ctx, HostTimeout)
	defer cancel()
	info, err := m.Backend.Host(ctx)
	if err != nil {
		h.Err = fmt.Sprintf("host info: %v", err)
		return h
	}
	h.CPUs, h.MemoryTotalMiB, h.MemoryFreeMiB = info.CPUs, info.MemoryTotalMiB, info.MemoryFreeMiB
	for _, c := range info.Cells {
		h.Cells = append(h.Cells, Cell{ID: c.ID, CPUs: c.CPUs, MemoryMiB: c.MemoryMiB, FreeMiB: c.FreeMiB})
	}
	if choice, err := m.Manager.ChooseAccel(ctx, hypervisor.AccelAuto); err == nil {
		h.KVM = choice.Mode == hypervisor.AccelKVM
		h.KVMReason = choice.Reason
	} else {
		h.KVMReason = err.Error()
	}
	vms, err := m.Backend.List(ctx)
	if err != nil {
		h.Err = fmt.Sprintf("list vms: %v", err)
		return h
	}
	for _, v := range vms {
		h.VMs = append(h.VMs, VM{Name: v.Name, VCPUs: v.VCPUs, MemoryMiB: v.MemoryMiB, PinnedCPUs: v.PinnedCPUs, Cells: v.MemoryNodes, Group: v.Meta.Group})
	}
	return h
}
