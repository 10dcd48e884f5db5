package scheduler

import (
	"fmt"
	"sort"
)

// Pinning is where a pinned VM's vCPUs and memory go on the chosen host.
type Pinning struct {
	// VCPUs[i] is the host CPU of vCPU i; all distinct.
	VCPUs []int
	// Emulator is the host CPUs for QEMU's emulator threads: the same set
	// as VCPUs, so the VM never steals a CPU it was not given.
	Emulator []int
	// MemoryNodes are the NUMA cells memory is bound to (numatune strict).
	MemoryNodes []int
}

// pin picks host CPUs nobody is pinned to. One NUMA cell with enough free
// CPUs and free memory is preferred (local memory, as Nova's NUMA fitting
// does); among those, the cell with the most free CPUs under spread, the
// fewest under pack. Otherwise the VM spans cells, taking the cells with
// the most free CPUs first so it spans as few as it can, and its memory is
// bound to the cells it runs on (plus, if they lack the free memory, the
// cells with most free memory until it fits: strict binding to too little
// memory would OOM the guest). Lowest CPU ids first within a cell.
func pin(c *capacity, req Request, pack bool) (*Pinning, error) {
	n := req.VCPUs
	best := -1
	for i, cell := range c.cells {
		if len(cell.free) < n || cell.freeMiB < req.MemoryMiB {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		have, cur := len(cell.free), len(c.cells[best].free)
		if (!pack && have > cur) || (pack && have < cur) || (have == cur && cell.id < c.cells[best].id) {
			best = i
		}
	}
	if best >= 0 {
		cell := c.cells[best]
		return newPinning(cell.free[:n], []int{cell.id}), nil
	}

	order := make([]int, len(c.cells))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ca, cb := c.cells[order[a]], c.cells[order[b]]
		if len(ca.free) != len(cb.free) {
			return len(ca.free) > len(cb.free)
		}
		return ca.id < cb.id
	})
	var cpus, nodes []int
	used := map[int]bool{}
	memMiB := 0
	for _, i := range order {
		if len(cpus) == n {
			break
		}
		cell := c.cells[i]
		if len(cell.free) == 0 {
			continue
		}
		take := min(n-len(cpus), len(cell.free))
		cpus = append(cpus, cell.free[:take]...)
		nodes = append(nodes, cell.id)
		used[i] = true
		memMiB += cell.freeMiB
	}
	if len(cpus) < n {
		return nil, fmt.Errorf("%w: host %s has %d unpinned CPUs for %s", ErrNoValidHost, c.host.Name, len(cpus), plural(n, "vCPU"))
	}
	if memMiB < req.MemoryMiB {
		byMem := make([]int, 0, len(c.cells))
		for i := range c.cells {
			if !used[i] {
				byMem = append(byMem, i)
			}
		}
		sort.SliceStable(byMem, func(a, b int) bool {
			ca, cb := c.cells[byMem[a]], c.cells[byMem[b]]
			if ca.freeMiB != cb.freeMiB {
				return ca.freeMiB > cb.freeMiB
			}
			return ca.id < cb.id
		})
		for _, i := range byMem {
			if memMiB >= req.MemoryMiB {
				break
			}
			nodes = append(nodes, c.cells[i].id)
			memMiB += c.cells[i].freeMiB
		}
	}
	return newPinning(cpus, nodes), nil
}

func newPinning(cpus, nodes []int) *Pinning {
	p := &Pinning{
		VCPUs:       append([]int(nil), cpus...),
		Emulator:    append([]int(nil), cpus...),
		MemoryNodes: append([]int(nil), nodes...),
	}
	sort.Ints(p.Emulator)
	sort.Ints(p.MemoryNodes)
	return p
}
