package scheduler

import (
	"fmt"
	"math"
)

// Host is one libvirt host as the scheduler sees it.
type Host struct {
	Name, URI string
	// Err non-empty means unreachable: reported and skipped, never fatal.
	Err string
	// KVM reports KVM as usable (vmx/svm + /dev/kvm), decided by the caller.
	KVM       bool
	KVMReason string

	CPUs           int
	MemoryTotalMiB int
	// MemoryFreeMiB is what the host kernel reports free now.
	MemoryFreeMiB int

	// Cells are the NUMA cells; at least one for a reachable host.
	Cells []Cell
	// VMs are the vmctl VMs already on the host (running or defined).
	VMs    []VM
	Limits Limits
}

// Cell is one NUMA cell of a host.
type Cell struct {
	ID        int
	CPUs      []int
	MemoryMiB int
	FreeMiB   int
}

// VM is a vmctl VM already on a host (or claimed for it), as far as
// placement cares.
type VM struct {
	Name       string
	VCPUs      int
	MemoryMiB  int
	PinnedCPUs []int // empty: the VM floats over the shared CPUs
	Cells      []int // NUMA cells its memory is bound to
	Group      string
}

// Limits come from the hosts file; nil means "use the Policy default".
// Pointers, because an explicit 0 (reserve nothing, take no more VMs)
// differs from unset.
type Limits struct {
	CPUAllocationRatio *float64 `yaml:"cpu_allocation_ratio" json:"cpu_allocation_ratio,omitempty"`
	RAMAllocationRatio *float64 `yaml:"ram_allocation_ratio" json:"ram_allocation_ratio,omitempty"`
	ReserveMiB         *int     `yaml:"reserve_mib" json:"reserve_mib,omitempty"`
	// MemoryMiB caps the host memory vmctl may consider (lets an operator
	// or a test give a host less than it has).
	MemoryMiB *int `yaml:"memory_mib" json:"memory_mib,omitempty"`
	MaxVMs    *int `yaml:"max_vms" json:"max_vms,omitempty"`
	// Weight multiplies this host's final score (default 1).
	Weight *float64 `yaml:"weight" json:"weight,omitempty"`
}

// Validate checks each set limit. The errors name the hosts-file field and
// how to fix it.
func (l Limits) Validate() error {
	if r := l.CPUAllocationRatio; r != nil && !positive(*r) {
		return fmt.Errorf("cpu_allocation_ratio must be > 0 (got %v); omit it to use the default %v", *r, DefaultPolicy().CPUAllocationRatio)
	}
	if r := l.RAMAllocationRatio; r != nil && !positive(*r) {
		return fmt.Errorf("ram_allocation_ratio must be > 0 (got %v); omit it to use the default %v", *r, DefaultPolicy().RAMAllocationRatio)
	}
	if r := l.ReserveMiB; r != nil && *r < 0 {
		return fmt.Errorf("reserve_mib must be >= 0 (got %d); use 0 to reserve nothing", *r)
	}
	if m := l.MemoryMiB; m != nil && *m <= 0 {
		return fmt.Errorf("memory_mib must be > 0 (got %d); omit it to use all of the host's memory", *m)
	}
	if m := l.MaxVMs; m != nil && *m < 0 {
		return fmt.Errorf("max_vms must be >= 0 (got %d); use 0 to stop new VMs landing there, omit it for no limit", *m)
	}
	if w := l.Weight; w != nil && (*w < 0 || math.IsNaN(*w) || math.IsInf(*w, 0)) {
		return fmt.Errorf("weight must be >= 0 (got %v); omit it for the default 1", *w)
	}
	return nil
}

// positive is true for finite numbers above zero (NaN and Inf fail).
func positive(f float64) bool { return f > 0 && !math.IsInf(f, 0) }
