package hypervisor

import (
	"errors"
	"fmt"
)

// Sentinel errors. Backends convert their native errors to these where they
// leave the backend, so callers can use errors.Is without knowing libvirt.
var (
	// ErrNotFound: no domain of that name exists on the host.
	ErrNotFound = errors.New("vm not found")
	// ErrNotOwned: a domain of that name exists but carries no vmctl
	// metadata; vmctl never touches it.
	ErrNotOwned = errors.New("domain is not managed by vmctl")
	// ErrExists: a domain of that name already exists.
	ErrExists = errors.New("vm already exists")
	// ErrInvalidName: the name does not match NamePattern.
	ErrInvalidName = errors.New("invalid vm name")
	// ErrInvalidSpec: some other field of a VMSpec is out of range.
	ErrInvalidSpec = errors.New("invalid vm spec")
	// ErrInsufficientMemory: the host cannot hold the requested guest memory.
	ErrInsufficientMemory = errors.New("insufficient host memory")
	// ErrKVMUnavailable: KVM was asked for explicitly but cannot be used.
	ErrKVMUnavailable = errors.New("kvm acceleration unavailable")
	// ErrNotRunning: the operation needs a running domain.
	ErrNotRunning = errors.New("vm is not running")
	// ErrNoAgentChannel: the domain has no vmctl agent channel.
	ErrNoAgentChannel = errors.New("vm has no agent channel")
	// ErrUnreachable: the hypervisor connection could not be opened.
	ErrUnreachable = errors.New("hypervisor unreachable")
	// ErrConnectionLost: the connection to the hypervisor closed during a
	// call that is not safe to repeat blindly; whether it took effect is
	// unknown to the caller (the backend checks before retrying itself).
	ErrConnectionLost = errors.New("hypervisor connection lost")
)

// ForeignDomain is a domain that holds a name vmctl was asked to use but
// carries no vmctl metadata: vmctl neither adopts nor deletes it.
// errors.Is(err, ErrNotOwned) holds for it.
type ForeignDomain struct {
	Name string
	// Host names the host that has it (a fleet name or a libvirt URI).
	Host string
}

func (e *ForeignDomain) Error() string {
	return fmt.Sprintf("a domain named %s on host %s is not vmctl's (it has no vmctl metadata); vmctl leaves it alone", e.Name, e.Host)
}

// Is makes errors.Is(err, ErrNotOwned) true.
func (e *ForeignDomain) Is(target error) bool { return target == ErrNotOwned }

// Foreign turns a backend's ErrNotOwned for name into a *ForeignDomain on
// host; any other error is returned as it is.
func Foreign(err error, host, name string) error {
	var fd *ForeignDomain
	if errors.Is(err, ErrNotOwned) && !errors.As(err, &fd) {
		return &ForeignDomain{Name: name, Host: host}
	}
	return err
}
