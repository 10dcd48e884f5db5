package hypervisor

import "errors"

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
)
