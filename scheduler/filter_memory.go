package scheduler

import "fmt"

// memoryFilter checks guest memory against the host's allocatable memory
// (Nova's RAM check in placement: total × ram_allocation_ratio − reserved
// − used) and, when the ratio does not overcommit, against what the host
// kernel reports free right now: hosts run other things than vmctl VMs,
// and a stopped vmctl VM is counted as used but frees nothing.
type memoryFilter struct{}

func (memoryFilter) Name() string { return FilterMemory }

func (memoryFilter) Check(c *capacity, req Request) (bool, string) {
	if left := c.memLeft(); req.MemoryMiB > left {
		of := fmt.Sprintf("%d MiB", c.memMiB)
		if c.memCapped {
			of += fmt.Sprintf(" (memory_mib; host has %d MiB)", c.host.MemoryTotalMiB)
		}
		return false, fmt.Sprintf("needs %d MiB, %d MiB left of %s (ratio %s, reserve %d MiB, %s %s %d MiB)",
			req.MemoryMiB, left, of, fmtRatio(c.ramRatio), c.reserveMiB, plural(len(c.host.VMs), "VM"), verb(len(c.host.VMs), "use"), c.memUsed)
	}
	if c.ramRatio <= 1.0 {
		if avail := c.host.MemoryFreeMiB - c.reserveMiB; req.MemoryMiB > avail {
			return false, fmt.Sprintf("needs %d MiB, host reports %d MiB free, %d MiB after the %d MiB reserve (checked since ratio %s does not overcommit)",
				req.MemoryMiB, c.host.MemoryFreeMiB, avail, c.reserveMiB, fmtRatio(c.ramRatio))
		}
	}
	return true, ""
}
