package libvirtbackend

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/vmctl/vmctl/hypervisor"
)

// owned looks a domain up and refuses one without vmctl's metadata. The
// caller must Free the returned domain.
func owned(conn *libvirt.Connect, name string) (*libvirt.Domain, hypervisor.Metadata, error) {
	dom, err := conn.LookupDomainByName(name)
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

// onOwned runs fn on the vmctl domain name.
func (b *Backend) onOwned(ctx context.Context, r retry, name string, fn func(*libvirt.Domain, hypervisor.Metadata) error) error {
	return b.do(ctx, r, func(conn *libvirt.Connect) error {
		dom, meta, err := owned(conn, name)
		if err != nil {
			return err
		}
		defer dom.Free()
		return fn(dom, meta)
	})
}

func readMetadata(dom *libvirt.Domain) (hypervisor.Metadata, error) {
	raw, err := dom.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, hypervisor.MetadataNamespace, libvirt.DOMAIN_AFFECT_CURRENT)
	if err != nil {
		return hypervisor.Metadata{}, err
	}
	return hypervisor.UnmarshalMetadata(raw)
}

// Define registers the domain. The XML gets a UUID if it has none, so that
// after a connection lost mid-call the backend can tell its own definition
// from another one of the same name: it then looks, and defines again only
// if nothing is there.
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
	if def.UUID == "" {
		def.UUID = newUUID()
		x, err := def.Marshal()
		if err != nil {
			return fmt.Errorf("define %s: %w", def.Name, err)
		}
		domainXML = x
	}
	define := func(conn *libvirt.Connect) error {
		if dom, err := conn.LookupDomainByName(def.Name); err == nil {
			dom.Free()
			return fmt.Errorf("define %s: %w", def.Name, hypervisor.ErrExists)
		}
		dom, err := conn.DomainDefineXMLFlags(domainXML, libvirt.DOMAIN_DEFINE_VALIDATE)
		if err != nil {
			// A concurrent define of the same name makes libvirt refuse
			// with a generic code; what is there now says which it was.
			if other, lerr := conn.LookupDomainByName(def.Name); lerr == nil {
				uuid, _ := other.GetUUIDString()
				other.Free()
				if uuid != def.UUID {
					return fmt.Errorf("define %s: %w: %w", def.Name, hypervisor.ErrExists, err)
				}
			}
			return convert("define "+def.Name, err)
		}
		return dom.Free()
	}
	err := b.do(ctx, once, define)
	if !errors.Is(err, hypervisor.ErrConnectionLost) {
		return err
	}
	// The connection died during the call: the definition may or may not
	// have reached libvirt.
	var uuid string
	lerr := b.do(ctx, idempotent, func(conn *libvirt.Connect) error {
		dom, err := conn.LookupDomainByName(def.Name)
		if err != nil {
			return convert("lookup "+def.Name, err)
		}
		defer dom.Free()
		uuid, err = dom.GetUUIDString()
		return err
	})
	switch {
	case lerr == nil && uuid == def.UUID:
		return nil
	case lerr == nil:
		return fmt.Errorf("define %s: %w", def.Name, hypervisor.ErrExists)
	case errors.Is(lerr, hypervisor.ErrNotFound):
		return b.do(ctx, once, define)
	}
	return fmt.Errorf("define %s: %w (then: %w)", def.Name, err, lerr)
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Start boots a defined domain. If the connection dies during the call,
// the domain's state says whether it started; it is started again only if
// it did not.
func (b *Backend) Start(ctx context.Context, name string) error {
	start := func(dom *libvirt.Domain, _ hypervisor.Metadata) error {
		return convert("start "+name, dom.Create())
	}
	err := b.onOwned(ctx, once, name, start)
	if !errors.Is(err, hypervisor.ErrConnectionLost) {
		return err
	}
	return b.onOwned(ctx, idempotent, name, func(dom *libvirt.Domain, m hypervisor.Metadata) error {
		if active, aerr := dom.IsActive(); aerr == nil && active {
			return nil
		}
		return start(dom, m)
	})
}

func (b *Backend) Destroy(ctx context.Context, name string) error {
	return b.onOwned(ctx, idempotent, name, func(dom *libvirt.Domain, _ hypervisor.Metadata) error {
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
	})
}

// Undefine removes the definition. A retry after a lost connection that
// finds the domain gone counts as done: the first attempt removed it.
func (b *Backend) Undefine(ctx context.Context, name string) error {
	tries := 0
	err := b.do(ctx, idempotent, func(conn *libvirt.Connect) error {
		tries++
		dom, _, err := owned(conn, name)
		if err != nil {
			return err
		}
		defer dom.Free()
		return convert("undefine "+name, dom.Undefine())
	})
	if tries > 1 && errors.Is(err, hypervisor.ErrNotFound) {
		return nil
	}
	return err
}

// Suspend and Resume are no-ops on a domain already in the wanted state,
// which makes them safe to retry.
func (b *Backend) Suspend(ctx context.Context, name string) error {
	return b.onOwned(ctx, idempotent, name, func(dom *libvirt.Domain, _ hypervisor.Metadata) error {
		if st, _, err := dom.GetState(); err == nil && st == libvirt.DOMAIN_PAUSED {
			return nil
		}
		return convert("suspend "+name, dom.Suspend())
	})
}

func (b *Backend) Resume(ctx context.Context, name string) error {
	return b.onOwned(ctx, idempotent, name, func(dom *libvirt.Domain, _ hypervisor.Metadata) error {
		if st, _, err := dom.GetState(); err == nil && st == libvirt.DOMAIN_RUNNING {
			return nil
		}
		return convert("resume "+name, dom.Resume())
	})
}

func (b *Backend) List(ctx context.Context) ([]hypervisor.DomainInfo, error) {
	var out []hypervisor.DomainInfo
	err := b.do(ctx, idempotent, func(conn *libvirt.Connect) error {
		out = nil
		doms, err := conn.ListAllDomains(0)
		if err != nil {
			return convert("list domains", err)
		}
		var connErr error
		for i := range doms {
			dom := &doms[i]
			meta, err := readMetadata(dom)
			if err == nil {
				var info hypervisor.DomainInfo
				if info, err = b.describe(dom, meta); err == nil {
					out = append(out, info)
				}
			}
			// Not ours, or gone since the listing: either way not
			// listed. A dead connection fails the whole list.
			if err != nil && isConnectionError(err) {
				connErr = err
			}
			dom.Free()
		}
		return connErr
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (b *Backend) Lookup(ctx context.Context, name string) (hypervisor.DomainInfo, error) {
	var info hypervisor.DomainInfo
	err := b.onOwned(ctx, idempotent, name, func(dom *libvirt.Domain, meta hypervisor.Metadata) error {
		var err error
		info, err = b.describe(dom, meta)
		return err
	})
	return info, err
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
