// Package hypervisortest provides an in-memory hypervisor.Backend for unit
// tests of the layers above it. It never ships in the vmctl binary.
package hypervisortest

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"libvirt.org/go/libvirtxml"

	"github.com/vmctl/vmctl/hypervisor"
)

// Fake is an in-memory Backend. Its zero value is not usable; use New.
type Fake struct {
	mu      sync.Mutex
	uri     string
	host    hypervisor.HostInfo
	domains map[string]*fakeDomain
	// foreign are domains without vmctl metadata, to test ownership.
	foreign map[string]bool

	// AgentConn, if set, supplies the guest end of OpenAgent for a running
	// domain (e.g. an agent.ServeConn over net.Pipe).
	AgentConn func(name string) (io.ReadWriteCloser, error)
	// FailStart makes Start fail for these names (after Define succeeded).
	FailStart map[string]error
	// Fail, if set, is asked before List (op "list", name "") and every
	// call that names a domain (op "lookup", "start", "destroy",
	// "undefine", "suspend", "resume" or "openagent"); an error it returns
	// is the call's result and nothing changes, as when libvirtd is
	// unreachable.
	Fail func(op, name string) error
	// Calls records every mutating call, e.g. "define a", "destroy a".
	Calls []string
	// Refused records every mutating call made on a foreign domain, e.g.
	// "destroy theirs": the backend refuses them, and callers should not
	// even try.
	Refused []string
}

type fakeDomain struct {
	def   libvirtxml.Domain
	meta  hypervisor.Metadata
	state hypervisor.DomainState
}

var _ hypervisor.Backend = (*Fake)(nil)

// New returns a Fake host with the given resources.
func New(uri string, host hypervisor.HostInfo) *Fake {
	if host.Hostname == "" {
		host.Hostname = "fake"
	}
	return &Fake{uri: uri, host: host, domains: map[string]*fakeDomain{}, foreign: map[string]bool{}, FailStart: map[string]error{}}
}

// AddForeign adds a domain vmctl does not own.
func (f *Fake) AddForeign(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.foreign[name] = true
}

// SetState forces a domain's state (e.g. to simulate a guest dying).
func (f *Fake) SetState(name string, st hypervisor.DomainState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.domains[name]; ok {
		d.state = st
	}
}

// Domain returns the definition vmctl sent for name.
func (f *Fake) Domain(name string) (libvirtxml.Domain, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.domains[name]
	if !ok {
		return libvirtxml.Domain{}, false
	}
	return d.def, true
}

func (f *Fake) URI() string  { return f.uri }
func (f *Fake) Close() error { return nil }

func (f *Fake) record(format string, args ...any) {
	f.Calls = append(f.Calls, fmt.Sprintf(format, args...))
}

// SetFail sets Fail while the fake is in use.
func (f *Fake) SetFail(fail func(op, name string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Fail = fail
}

// Mutations returns a copy of Calls, safe while the fake is in use.
func (f *Fake) Mutations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.Calls...)
}

// IsForeign reports whether name is still a foreign domain of this host.
func (f *Fake) IsForeign(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.foreign[name]
}

// get returns an owned domain for op; the caller holds f.mu.
func (f *Fake) get(op, name string) (*fakeDomain, error) {
	if f.Fail != nil {
		if err := f.Fail(op, name); err != nil {
			return nil, err
		}
	}
	if f.foreign[name] {
		if op != "lookup" {
			f.Refused = append(f.Refused, op+" "+name)
		}
		return nil, fmt.Errorf("%s: %w", name, hypervisor.ErrNotOwned)
	}
	d, ok := f.domains[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, hypervisor.ErrNotFound)
	}
	return d, nil
}

func (f *Fake) Define(ctx context.Context, domainXML string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(domainXML); err != nil {
		return fmt.Errorf("define: %w", err)
	}
	if def.Metadata == nil {
		return fmt.Errorf("define %s: domain xml lacks vmctl metadata", def.Name)
	}
	meta, err := hypervisor.UnmarshalMetadata(def.Metadata.XML)
	if err != nil {
		return fmt.Errorf("define %s: %w", def.Name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.domains[def.Name]; ok || f.foreign[def.Name] {
		return fmt.Errorf("define %s: %w", def.Name, hypervisor.ErrExists)
	}
	f.domains[def.Name] = &fakeDomain{def: def, meta: meta, state: hypervisor.StateShutoff}
	f.record("define %s", def.Name)
	return nil
}

func (f *Fake) Start(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get("start", name)
	if err != nil {
		return err
	}
	f.record("start %s", name)
	if err := f.FailStart[name]; err != nil {
		return err
	}
	d.state = hypervisor.StateRunning
	return nil
}

func (f *Fake) Destroy(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get("destroy", name)
	if err != nil {
		return err
	}
	f.record("destroy %s", name)
	d.state = hypervisor.StateShutoff
	return nil
}

func (f *Fake) Undefine(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get("undefine", name); err != nil {
		return err
	}
	f.record("undefine %s", name)
	delete(f.domains, name)
	return nil
}

func (f *Fake) Suspend(ctx context.Context, name string) error {
	return f.transition(name, "suspend", hypervisor.StateRunning, hypervisor.StatePaused)
}

func (f *Fake) Resume(ctx context.Context, name string) error {
	return f.transition(name, "resume", hypervisor.StatePaused, hypervisor.StateRunning)
}

func (f *Fake) transition(name, op string, from, to hypervisor.DomainState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(op, name)
	if err != nil {
		return err
	}
	if d.state != from {
		return fmt.Errorf("%s %s: %w", op, name, hypervisor.ErrNotRunning)
	}
	f.record("%s %s", op, name)
	d.state = to
	return nil
}

func (f *Fake) List(ctx context.Context) ([]hypervisor.DomainInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail != nil {
		if err := f.Fail("list", ""); err != nil {
			return nil, err
		}
	}
	out := make([]hypervisor.DomainInfo, 0, len(f.domains))
	for name, d := range f.domains {
		out = append(out, f.info(name, d))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *Fake) Lookup(ctx context.Context, name string) (hypervisor.DomainInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get("lookup", name)
	if err != nil {
		return hypervisor.DomainInfo{}, err
	}
	return f.info(name, d), nil
}

func (f *Fake) info(name string, d *fakeDomain) hypervisor.DomainInfo {
	info := hypervisor.DomainInfo{Name: name, State: d.state, Meta: d.meta}
	if d.def.VCPU != nil {
		info.VCPUs = int(d.def.VCPU.Value)
	}
	if d.def.Memory != nil {
		info.MemoryMiB = int(d.def.Memory.Value)
	}
	info.Host = f.uri
	if x, err := d.def.Marshal(); err == nil {
		info.PinnedCPUs, info.MemoryNodes, _ = hypervisor.DomainPinning(x)
	}
	return info
}

// Host reports the configured host, with memory of running domains taken.
func (f *Fake) Host(ctx context.Context) (hypervisor.HostInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.host
	for _, d := range f.domains {
		if d.state == hypervisor.StateRunning && d.def.Memory != nil {
			h.MemoryFreeMiB -= int(d.def.Memory.Value)
		}
	}
	return h, nil
}

func (f *Fake) OpenAgent(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	f.mu.Lock()
	d, err := f.get("openagent", name)
	if err == nil && d.state != hypervisor.StateRunning {
		err = fmt.Errorf("open agent of %s: %w", name, hypervisor.ErrNotRunning)
	}
	dial := f.AgentConn
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if dial == nil {
		return nil, fmt.Errorf("open agent of %s: %w", name, hypervisor.ErrNoAgentChannel)
	}
	return dial(name)
}

func (f *Fake) OpenConsole(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	return nil, fmt.Errorf("open console of %s: not supported by the fake", name)
}
