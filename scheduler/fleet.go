package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/internal/failpoint"
)

// Member is one host of a fleet: its spec and, when reachable, an open
// backend and a VM manager on it.
type Member struct {
	Spec    HostSpec
	Backend hypervisor.Backend
	Manager *hypervisor.Manager
	// Err says why the host is unreachable (nil when reachable).
	Err error
}

// Opener opens a backend for a libvirt URI.
type Opener func(ctx context.Context, uri string) (hypervisor.Backend, error)

// Fleet is the set of hosts vmctl places VMs on. VM names are unique across
// the fleet, so exec, stop and rm find a VM wherever it lives.
type Fleet struct {
	members []*Member
}

// OpenFleet connects to every host concurrently. An unreachable host is
// recorded on its member and skipped, never fatal to the others.
func OpenFleet(ctx context.Context, specs []HostSpec, open Opener, cfg hypervisor.Config, opts ...hypervisor.Option) *Fleet {
	f := &Fleet{members: make([]*Member, len(specs))}
	var wg sync.WaitGroup
	for i, s := range specs {
		f.members[i] = &Member{Spec: s}
		wg.Add(1)
		go func(m *Member) {
			defer wg.Done()
			b, err := open(ctx, m.Spec.URI)
			if err != nil {
				m.Err = err
				return
			}
			mgr, err := hypervisor.NewManager(b, cfg, opts...)
			if err != nil {
				b.Close()
				m.Err = err
				return
			}
			m.Backend, m.Manager = b, mgr
		}(f.members[i])
	}
	wg.Wait()
	return f
}

// Close releases every connection.
func (f *Fleet) Close() {
	for _, m := range f.members {
		if m.Backend != nil {
			m.Backend.Close()
		}
	}
}

// Members returns the hosts in hosts-file order.
func (f *Fleet) Members() []*Member { return f.members }

// Member returns the host named name, or nil.
func (f *Fleet) Member(name string) *Member {
	for _, m := range f.members {
		if m.Spec.Name == name {
			return m
		}
	}
	return nil
}

// Inventory collects every host concurrently.
func (f *Fleet) Inventory(ctx context.Context) ([]Host, error) {
	out := make([]Host, len(f.members))
	var wg sync.WaitGroup
	for i, m := range f.members {
		wg.Add(1)
		go func(i int, m *Member) {
			defer wg.Done()
			out[i] = collect(ctx, m)
		}(i, m)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// List returns the vmctl VMs on every reachable host, sorted by host then
// name, and one error per host that could not be listed.
func (f *Fleet) List(ctx context.Context) ([]hypervisor.DomainInfo, error) {
	var (
		mu   sync.Mutex
		all  []hypervisor.DomainInfo
		errs []error
		wg   sync.WaitGroup
	)
	for _, m := range f.members {
		if m.Err != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", m.Spec.Name, m.Err))
			continue
		}
		wg.Add(1)
		go func(m *Member) {
			defer wg.Done()
			hctx, cancel := context.WithTimeout(ctx, HostTimeout)
			defer cancel()
			vms, err := m.Manager.List(hctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("host %s: %w", m.Spec.Name, err))
				return
			}
			for i := range vms {
				vms[i].Host = m.Spec.Name
			}
			all = append(all, vms...)
		}(m)
	}
	wg.Wait()
	sort.Slice(all, func(i, j int) bool {
		if all[i].Host != all[j].Host {
			return all[i].Host < all[j].Host
		}
		return all[i].Name < all[j].Name
	})
	return all, errors.Join(errs...)
}

// Find returns the host holding the vmctl VM name. ErrNotFound when no
// reachable host has it (the error also names unreachable hosts, where it
// might be); a *hypervisor.ForeignDomain (ErrNotOwned) when a host has a
// domain of that name that is not vmctl's.
func (f *Fleet) Find(ctx context.Context, name string) (*Member, hypervisor.DomainInfo, error) {
	var unreachable []string
	for _, m := range f.members {
		if m.Err != nil {
			unreachable = append(unreachable, m.Spec.Name)
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, HostTimeout)
		info, err := m.Manager.Show(hctx, name)
		cancel()
		if err == nil {
			info.Host = m.Spec.Name
			return m, info, nil
		}
		// A host that stopped answering is unreachable, as one that
		// never did: the name may be there, and the caller is told so.
		if ctx.Err() == nil && (errors.Is(err, hypervisor.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded)) {
			unreachable = append(unreachable, m.Spec.Name)
			continue
		}
		if errors.Is(err, hypervisor.ErrNotOwned) {
			return nil, hypervisor.DomainInfo{}, hypervisor.Foreign(err, m.Spec.Name, name)
		}
		if !errors.Is(err, hypervisor.ErrNotFound) {
			return nil, hypervisor.DomainInfo{}, fmt.Errorf("host %s: %w", m.Spec.Name, err)
		}
	}
	if len(unreachable) > 0 {
		return nil, hypervisor.DomainInfo{}, fmt.Errorf("%s: %w on reachable hosts (unreachable: %v)", name, hypervisor.ErrNotFound, unreachable)
	}
	return nil, hypervisor.DomainInfo{}, fmt.Errorf("%s: %w", name, hypervisor.ErrNotFound)
}

// CreateResult is a placed and created VM.
type CreateResult struct {
	Placement *Placement
	Host      string
	*hypervisor.CreateResult
}

// Create places the VM under a claim (so concurrent vmctl processes never
// over-admit), creates it on the chosen host with the chosen pinning, and
// releases the claim. A request that fits nowhere fails before anything is
// created, with each host's reason.
func (f *Fleet) Create(ctx context.Context, claims *ClaimStore, pol Policy, sreq Request, creq hypervisor.CreateRequest) (*CreateResult, error) {
	if _, _, err := f.Find(ctx, creq.Name); err == nil {
		return nil, fmt.Errorf("create %s: %w; pick another name or `vmctl vm rm %s`", creq.Name, hypervisor.ErrExists, creq.Name)
	} else if errors.Is(err, hypervisor.ErrNotOwned) {
		return nil, fmt.Errorf("create %s: %w: pick another name", creq.Name, err)
	} else if !errors.Is(err, hypervisor.ErrNotFound) {
		return nil, fmt.Errorf("create %s: %w", creq.Name, err)
	}
	sreq.Name = creq.Name
	sreq.VCPUs, sreq.MemoryMiB = creq.VCPUs, creq.MemoryMiB
	sreq.RequireKVM = creq.Accel == hypervisor.AccelKVM
	sreq.Group = creq.Group
	sreq.GroupPolicy = creq.GroupPolicy
	pl, release, err := claims.Reserve(ctx, f.Inventory, sreq, pol)
	if err != nil {
		return &CreateResult{Placement: pl}, fmt.Errorf("place %s: %w", creq.Name, err)
	}
	defer release()
	if err := failpoint.Hit(ctx, failpoint.AfterPlacement); err != nil {
		return nil, err
	}
	m := f.Member(pl.Host.Name)
	if m == nil || m.Manager == nil {
		return nil, fmt.Errorf("place %s: chosen host %q is not open", creq.Name, pl.Host.Name)
	}
	if pl.Pinning != nil {
		creq.Pinning = &hypervisor.Pinning{VCPUs: pl.Pinning.VCPUs, Emulator: pl.Pinning.Emulator, MemoryNodes: pl.Pinning.MemoryNodes}
	}
	res, err := m.Manager.Create(ctx, creq)
	if err != nil {
		return nil, fmt.Errorf("on host %s: %w", m.Spec.Name, err)
	}
	res.Info.Host = m.Spec.Name
	return &CreateResult{Placement: pl, Host: m.Spec.Name, CreateResult: res}, nil
}

// RemoveOn removes the vmctl VM name from the fleet's host host: a VM
// vmctl made for a process (a job's worker, a benchmark's VM). A VM that
// is already gone is not an error. A failure that may have left the VM
// there is a *hypervisor.LeftBehind naming it, its host and the fix; a
// domain of that name that is not vmctl's is a *hypervisor.ForeignDomain
// and is left alone.
func (f *Fleet) RemoveOn(ctx context.Context, host, name string) error {
	return f.removeOn(ctx, host, name, true)
}

func (f *Fleet) removeOn(ctx context.Context, host, name string, owned bool) error {
	m := f.Member(host)
	if m == nil || m.Manager == nil {
		why := fmt.Errorf("remove %s: host %s is not open", name, host)
		if m != nil && m.Err != nil {
			why = fmt.Errorf("remove %s: host %s: %w", name, host, m.Err)
		}
		return hypervisor.LeftVM(host, name, owned, why)
	}
	return hypervisor.LeftVM(host, name, owned, hypervisor.Foreign(m.Manager.Remove(ctx, name), host, name))
}

// Remove finds the vmctl VM name on whichever host holds it and removes it
// (see RemoveOn). When no reachable host has it, a leftover state
// directory of the name is still cleared (a crashed create's) and the
// error wraps hypervisor.ErrNotFound. When a host fails to say whether it
// has the VM, that error is returned as it is.
func (f *Fleet) Remove(ctx context.Context, name string) error {
	m, info, err := f.Find(ctx, name)
	if errors.Is(err, hypervisor.ErrNotFound) {
		for _, mm := range f.members {
			if mm.Manager != nil {
				mm.Manager.Remove(ctx, name)
				break
			}
		}
		return err
	}
	if err != nil {
		// Not found for sure, nor found: a plain error, since nothing
		// says there is a VM to leave behind.
		return err
	}
	return f.removeOn(ctx, m.Spec.Name, name, info.Meta.Owner != nil)
}
