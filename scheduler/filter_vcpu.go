package scheduler

import "fmt"

// vcpuFilter checks CPUs. A floating VM needs room in the shared pool: the
// unpinned host CPUs times the CPU ratio, less the vCPUs of the floating
// VMs already there (Nova's VCPU inventory with cpu_allocation_ratio). A
// pinned VM needs one unpinned host CPU per vCPU (ratio 1, like Nova's
// PCPU), and taking them must not leave the floating VMs already placed
// with less shared capacity than they use.
type vcpuFilter struct{}

func (vcpuFilter) Name() string { return FilterVCPU }

func (vcpuFilter) Check(c *capacity, req Request) (bool, string) {
	if !req.Pin {
		shared := c.sharedCapacity(0)
		if left := shared - float64(c.floatingVCPUs); float64(req.VCPUs) > left+capacityEpsilon {
			return false, fmt.Sprintf("needs %s, %s left of %s shared (%d CPUs - %d pinned, ratio %s; %s %s %d vCPUs)",
				plural(req.VCPUs, "vCPU"), fmtNum(left), fmtNum(shared), c.host.CPUs, len(c.pinned), fmtRatio(c.cpuRatio),
				plural(c.floatingVMs, "floating VM"), verb(c.floatingVMs, "use"), c.floatingVCPUs)
		}
		return true, ""
	}
	if free := c.freeCPUs(); req.VCPUs > free {
		return false, fmt.Sprintf("needs %s, %d unpinned of %d CPUs (%d pinned by %s)",
			plural(req.VCPUs, "dedicated CPU"), free, c.host.CPUs, len(c.pinned), plural(c.pinnedVMs, "VM"))
	}
	if shared := c.sharedCapacity(req.VCPUs); float64(c.floatingVCPUs) > shared+capacityEpsilon {
		return false, fmt.Sprintf("pinning %s would leave %s shared vCPUs ((%d CPUs - %d pinned - %d) x ratio %s) for the %d vCPUs of %s",
			plural(req.VCPUs, "CPU"), fmtNum(shared), c.host.CPUs, len(c.pinned), req.VCPUs, fmtRatio(c.cpuRatio),
			c.floatingVCPUs, plural(c.floatingVMs, "floating VM"))
	}
	return true, ""
}
