package hypervisor

import (
	"context"
	"io"
	"time"
)

// Backend is everything vmctl needs from a virtualization host. It is kept
// narrow on purpose: one real implementation (libvirt) and one fake.
//
// Ownership contract: every method that names a domain returns ErrNotOwned
// for a domain that exists but lacks vmctl's metadata, and never modifies it.
type Backend interface {
	Lifecycle
	Inspector
	Channels
	// URI identifies the host, e.g. "qemu:///system".
	URI() string
	Close() error
}

// Lifecycle changes domain state.
type Lifecycle interface {
	// Define registers a persistent domain from XML. The XML must carry
	// vmctl's metadata (DefineDomain refuses anything else). A name that is
	// taken returns ErrExists.
	Define(ctx context.Context, domainXML string) error
	// Start boots a defined domain. ErrNotFound if missing.
	Start(ctx context.Context, name string) error
	// Destroy powers a domain off immediately. Destroy of a domain that is
	// already off is a no-op; of a missing domain, ErrNotFound.
	Destroy(ctx context.Context, name string) error
	// Undefine removes a stopped domain's definition. ErrNotFound if missing.
	Undefine(ctx context.Context, name string) error
	// Suspend and Resume pause and continue a running domain's vCPUs.
	Suspend(ctx context.Context, name string) error
	Resume(ctx context.Context, name string) error
}

// Inspector reads state without changing it.
type Inspector interface {
	// List returns the vmctl-owned domains only.
	List(ctx context.Context) ([]DomainInfo, error)
	// Lookup returns one vmctl-owned domain; ErrNotFound or ErrNotOwned.
	Lookup(ctx context.Context, name string) (DomainInfo, error)
	// Host describes the host: memory, CPUs, versions, KVM usability.
	Host(ctx context.Context) (HostInfo, error)
}

// Channels opens byte streams into a running guest.
type Channels interface {
	// OpenAgent connects to the guest agent's virtio-serial channel.
	// ErrNotRunning if the domain is not running.
	OpenAgent(ctx context.Context, name string) (io.ReadWriteCloser, error)
	// OpenConsole attaches to the guest's serial console.
	OpenConsole(ctx context.Context, name string) (io.ReadWriteCloser, error)
}

// DomainState is a coarse domain state.
type DomainState string

const (
	StateRunning  DomainState = "running"
	StatePaused   DomainState = "paused"
	StateShutoff  DomainState = "shutoff"
	StateCrashed  DomainState = "crashed"
	StateStarting DomainState = "starting"
	StateStopping DomainState = "stopping"
	StateOther    DomainState = "other"
)

// DomainInfo is what Lookup and List report about a vmctl domain.
type DomainInfo struct {
	Name      string
	UUID      string
	State     DomainState
	VCPUs     int
	MemoryMiB int
	// Meta is vmctl's own record, read back from the domain's metadata.
	Meta Metadata
	// PinnedCPUs are the host CPUs the vCPUs are pinned to (empty: floating).
	PinnedCPUs []int `json:",omitempty"`
	// MemoryNodes are the NUMA cells memory is bound to (empty: any).
	MemoryNodes []int `json:",omitempty"`
	// Host is the URI of the host holding the domain.
	Host string `json:",omitempty"`
	// QEMUPid is the emulator process (0 when not running or unknown).
	QEMUPid int
	// CPUTime is the guest's cumulative CPU time (virDomainGetInfo's
	// cpuTime, nanoseconds on libvirt 9.0), for utilisation from deltas.
	CPUTime time.Duration `json:",omitempty"`
}

// HostInfo describes a hypervisor host.
type HostInfo struct {
	Hostname       string
	CPUs           int
	CPUModel       string
	MemoryTotalMiB int
	MemoryFreeMiB  int
	LibvirtVersion string
	QEMUVersion    string
	// CPUFlags lists the host CPU's virtualization features as the
	// hypervisor sees them (vmx, svm), used for remote KVM detection.
	CPUFlags []string
	// KVMDevice reports whether /dev/kvm is usable by the hypervisor,
	// as far as the backend can tell.
	KVMDevice bool
	// TSCKHz is the host's TSC frequency as libvirt reports it (0 when
	// unknown).
	TSCKHz int
	// Cells is the NUMA topology; a host without NUMA reports one cell.
	Cells  []NUMACell
	Probed time.Time
}

// NUMACell is one NUMA node of a host.
type NUMACell struct {
	ID        int   `json:"id"`
	CPUs      []int `json:"cpus"`
	MemoryMiB int   `json:"memory_mib"`
	FreeMiB   int   `json:"free_mib"`
}
