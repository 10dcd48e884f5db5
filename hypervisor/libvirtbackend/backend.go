package libvirtbackend

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/vmctl/vmctl/hypervisor"
)

// Backend is a libvirt connection. It is safe for concurrent use: libvirt's
// connection object is thread-safe.
type Backend struct {
	uri  string
	conn *libvirt.Connect

	closeOnce sync.Once
}

var _ hypervisor.Backend = (*Backend)(nil)

// Open connects to a libvirt URI such as qemu:///system.
func Open(ctx context.Context, uri string) (*Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := libvirt.NewConnect(uri)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w: %v (is libvirtd running? try scripts/setup-host.sh)", uri, hypervisor.ErrUnreachable, err)
	}
	return &Backend{uri: uri, conn: conn}, nil
}

// No libvirt event loop is registered, so no keepalive either: with the
// default event loop running, a remote channel stream closed by one vmctl
// process left the next process's first handshake blocked in send
// (measured against a second libvirtd 9.0 over TCP). A hung remote host is
// bounded instead by the agent's own handshake and request timeouts.

func (b *Backend) URI() string { return b.uri }

func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		_, err = b.conn.Close()
	})
	return err
}

// IsLocal reports whether the URI names this machine's libvirtd.
func IsLocal(uri string) bool { return hypervisor.IsLocalURI(uri) }

// owned looks a domain up and refuses one without vmctl's metadata. The
// caller must Free the returned domain.
func (b *Backend) owned(ctx context.Context, name string) (*libvirt.Domain, hypervisor.Metadata, error) {
	if err := ctx.Err(); err != nil {
		return nil, hypervisor.Metadata{}, err
	}
	dom, err := b.conn.LookupDomainByName(name)
	if err != nil {
		return nil, hypervisor.Metadata{}, convert("lookup "+name, err)
	}
	meta, err := readMetadata(dom)
	if err != nil {
		dom.Free()
		if isNoMetadata(err) {
			return nil, hypervisor.Metadata{}, fmt.Errorf("%s: %w", name, hypervisor.ErrNotOwned)
		}
		return nil, hypervisor.Metadata{}, convert("read metadata of "+name, err)
	}
	return dom, meta, nil
}

func readMetadata(dom *libvirt.Domain) (hypervisor.Metadata, error) {
	raw, err := dom.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, hypervisor.MetadataNamespace, libvirt.DOMAIN_AFFECT_CURRENT)
	if err != nil {
		return hypervisor.Metadata{}, err
	}
	return hypervisor.UnmarshalMetadata(raw)
}

func (b *Backend) Define(ctx context.Context, domainXML string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(domainXML); err != nil {
		return fmt.Errorf("define: parse domain xml: %w", err)
	}
	// The adapter itself refuses to create anything vmctl could not
	// recognise as its own afterwards.
	if def.Metadata == nil || !strings.Contains(def.Metadata.XML, hypervisor.MetadataNamespace) {
		return fmt.Errorf("define %s: domain xml lacks vmctl metadata", def.Name)
	}
	if dom, err := b.conn.LookupDomainByName(def.Name); err == nil {
		dom.Free()
		return fmt.Errorf("define %s: %w", def.Name, hypervisor.ErrExists)
	}
	dom, err := b.conn.DomainDefineXMLFlags(domainXML, libvirt.DOMAIN_DEFINE_VALIDATE)
	if err != nil {
		if strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("define %s: %w: %v", def.Name, hypervisor.ErrExists, err)
		}
		return convert("define "+def.Name, err)
	}
	return dom.Free()
}

func (b *Backend) Start(ctx context.Context, name string) error {
	dom, _, err := b.owned(ctx, name)
	if err != nil {
		return err
	}
	defer dom.Free()
	return convert("start "+name, dom.Create())
}

func (b *Backend) Destroy(ctx context.Context, name string) error {
	dom, _, err := b.owned(ctx, name)
	if err != nil {
		return err
	}
	defer dom.Free()
	active, err := dom.IsActive()
	if err != nil {
		return convert("destroy "+name, err)
	}
	if !active {
		return nil
	}
	if err := dom.Destroy(); err != nil {
		// It may have stopped between IsActive and Destroy.
		if active, aerr := dom.IsActive(); aerr == nil && !active {
			return nil
		}
		return convert("destroy "+name, err)
	}
	return nil
}

func (b *Backend) Undefine(ctx context.Context, name string) error {
	dom, _, err := b.owned(ctx, name)
	if err != nil {
		return err
	}
	defer dom.Free()
	return convert("undefine "+name, dom.Undefine())
}

func (b *Backend) Suspend(ctx context.Context, name string) error {
	dom, _, err := b.owned(ctx, name)
	if err != nil {
		return err
	}
	defer dom.Free()
	return convert("suspend "+name, dom.Suspend())
}

func (b *Backend) Resume(ctx context.Context, name string) error {
	dom, _, err := b.owned(ctx, name)
	if err != nil {
		return err
	}
	defer dom.Free()
	return convert("resume "+name, dom.Resume())
}

func (b *Backend) List(ctx context.Context) ([]hypervisor.DomainInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	doms, err := b.conn.ListAllDomains(0)
	if err != nil {
		return nil, convert("list domains", err)
	}
	var out []hypervisor.DomainInfo
	for i := range doms {
		dom := &doms[i]
		meta, err := readMetadata(dom)
		if err != nil {
			// Not ours, or gone since the listing: either way not listed.
			dom.Free()
			continue
		}
		info, err := b.describe(dom, meta)
		dom.Free()
		if err != nil {
			continue
		}
		out = append(out, info)
	}
	return out, nil
}

func (b *Backend) Lookup(ctx context.Context, name string) (hypervisor.DomainInfo, error) {
	dom, meta, err := b.owned(ctx, name)
	if err != nil {
		return hypervisor.DomainInfo{}, err
	}
	defer dom.Free()
	return b.describe(dom, meta)
}

func (b *Backend) describe(dom *libvirt.Domain, meta hypervisor.Metadata) (hypervisor.DomainInfo, error) {
	name, err := dom.GetName()
	if err != nil {
		return hypervisor.DomainInfo{}, convert("domain name", err)
	}
	info := hypervisor.DomainInfo{Name: name, Meta: meta}
	info.UUID, _ = dom.GetUUIDString()
	st, _, err := dom.GetState()
	if err != nil {
		return hypervisor.DomainInfo{}, convert("state of "+name, err)
	}
	info.State = mapState(st)
	di, err := dom.GetInfo()
	if err != nil {
		return hypervisor.DomainInfo{}, convert("info of "+name, err)
	}
	info.VCPUs = int(di.NrVirtCpu)
	info.MemoryMiB = int(di.MaxMem / 1024)
	info.CPUTime = time.Duration(di.CpuTime)
	if info.State == hypervisor.StateRunning || info.State == hypervisor.StatePaused {
		info.QEMUPid = b.qemuPid(name)
	}
	info.Host = b.uri
	if x, err := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE); err == nil {
		info.PinnedCPUs, info.MemoryNodes, _ = hypervisor.DomainPinning(x)
	}
	return info, nil
}

// qemuPid reads the pid file libvirt's QEMU driver keeps; libvirt has no
// API for it. Only meaningful for a local system connection.
func (b *Backend) qemuPid(name string) int {
	if !IsLocal(b.uri) {
		return 0
	}
	pid, _ := hypervisor.QEMUPid(hypervisor.QEMURunDir, name)
	return pid
}

func mapState(st libvirt.DomainState) hypervisor.DomainState {
	switch st {
	case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED:
		return hypervisor.StateRunning
	case libvirt.DOMAIN_PAUSED, libvirt.DOMAIN_PMSUSPENDED:
		return hypervisor.StatePaused
	case libvirt.DOMAIN_SHUTOFF:
		return hypervisor.StateShutoff
	case libvirt.DOMAIN_SHUTDOWN:
		// "Being shut down": QEMU is still alive, so not yet off.
		return hypervisor.StateStopping
	case libvirt.DOMAIN_CRASHED:
		return hypervisor.StateCrashed
	}
	return hypervisor.StateOther
}
