package scheduler

import (
	"math"
	"sort"
)

// capacityEpsilon absorbs float rounding in ratio arithmetic (3 CPUs x 1.1
// is 3.3000000000000003), so a VM that fits on paper is never refused by
// the last bit.
const capacityEpsilon = 1e-9

// capacity is one reachable host's numbers once its limits and the policy
// are applied: what the filters test, the weighers rank and the pinner
// hands out.
type capacity struct {
	host *Host

	cpuRatio, ramRatio float64
	reserveMiB         int
	// memMiB is the memory vmctl may consider: the host's total, or less
	// when the hosts file caps it with memory_mib.
	memMiB    int
	memCapped bool
	memUsed   int // sum of the VMs' memory
	maxVMs    *int
	weight    float64

	pinned        map[int]bool // host CPUs some VM is pinned to
	pinnedVMs     int
	floatingVCPUs int // vCPUs of VMs that are not pinned
	floatingVMs   int

	// cells are the NUMA cells with the CPUs nobody is pinned to.
	cells []cellFree
}

// cellFree is what one NUMA cell can still dedicate.
type cellFree struct {
	id      int
	free    []int // unpinned CPUs, ascending
	freeMiB int
}

func newCapacity(h *Host, pol *Policy) *capacity {
	c := &capacity{
		host:       h,
		cpuRatio:   pol.CPUAllocationRatio,
		ramRatio:   pol.RAMAllocationRatio,
		reserveMiB: pol.ReserveMiB,
		memMiB:     h.MemoryTotalMiB,
		maxVMs:     h.Limits.MaxVMs,
		weight:     1,
		pinned:     map[int]bool{},
	}
	l := h.Limits
	if l.CPUAllocationRatio != nil {
		c.cpuRatio = *l.CPUAllocationRatio
	}
	if l.RAMAllocationRatio != nil {
		c.ramRatio = *l.RAMAllocationRatio
	}
	if l.ReserveMiB != nil {
		c.reserveMiB = *l.ReserveMiB
	}
	if l.MemoryMiB != nil && *l.MemoryMiB < c.memMiB {
		c.memMiB, c.memCapped = *l.MemoryMiB, true
	}
	if l.Weight != nil {
		c.weight = *l.Weight
	}
	for _, vm := range h.VMs {
		c.memUsed += vm.MemoryMiB
		if len(vm.PinnedCPUs) == 0 {
			c.floatingVCPUs += vm.VCPUs
			c.floatingVMs++
			continue
		}
		c.pinnedVMs++
		for _, cpu := range vm.PinnedCPUs {
			c.pinned[cpu] = true
		}
	}
	c.cells = freeCells(h, c.pinned)
	return c
}

// freeCells lists each cell's unpinned CPUs. A host that reports no CPU
// lists per cell is treated as one cell holding CPUs 0..CPUs-1, so pinning
// still works on a host libvirt reports without NUMA detail.
func freeCells(h *Host, pinned map[int]bool) []cellFree {
	listed := 0
	for _, cell := range h.Cells {
		listed += len(cell.CPUs)
	}
	cells := h.Cells
	if listed == 0 {
		one := Cell{CPUs: make([]int, h.CPUs), FreeMiB: h.MemoryFreeMiB}
		if len(h.Cells) > 0 {
			one.ID = h.Cells[0].ID
		}
		for i := range one.CPUs {
			one.CPUs[i] = i
		}
		cells = []Cell{one}
	}
	out := make([]cellFree, 0, len(cells))
	for _, cell := range cells {
		cf := cellFree{id: cell.ID, freeMiB: cell.FreeMiB}
		for _, cpu := range cell.CPUs {
			if !pinned[cpu] {
				cf.free = append(cf.free, cpu)
			}
		}
		sort.Ints(cf.free)
		out = append(out, cf)
	}
	return out
}

// memCapacity is the guest memory the host may hold in all, before any VM:
// considered memory times the ratio, less the reserve.
func (c *capacity) memCapacity() int {
	return int(math.Floor(float64(c.memMiB)*c.ramRatio+capacityEpsilon)) - c.reserveMiB
}

// memLeft is the guest memory still unallocated.
func (c *capacity) memLeft() int { return c.memCapacity() - c.memUsed }

// freeCPUs counts the host CPUs nobody is pinned to that the pinner can
// hand out.
func (c *capacity) freeCPUs() int {
	n := 0
	for _, cell := range c.cells {
		n += len(cell.free)
	}
	return n
}

// sharedCapacity is the floating vCPUs the host may run when extraPinned
// more CPUs are dedicated: the unpinned CPUs times the CPU ratio.
func (c *capacity) sharedCapacity(extraPinned int) float64 {
	return float64(c.host.CPUs-len(c.pinned)-extraPinned) * c.cpuRatio
}

// vcpuLeftAfter is the shared vCPU capacity still free once req is placed.
func (c *capacity) vcpuLeftAfter(req Request) float64 {
	if req.Pin {
		return c.sharedCapacity(req.VCPUs) - float64(c.floatingVCPUs)
	}
	return c.sharedCapacity(0) - float64(c.floatingVCPUs+req.VCPUs)
}
