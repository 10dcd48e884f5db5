package scheduler

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

func TestPinNeverGivesACPUTwice(t *testing.T) {
	for _, weigher := range []string{WeighSpread, WeighPack} {
		t.Run(weigher, func(t *testing.T) {
			hosts := []Host{twoCellHost("h")}
			pol := noReserve()
			pol.Weigher = weigher
			given := map[int]string{}
			sizes := []int{1, 2, 1, 3, 1, 2, 1} // 11 vCPUs asked of 8 CPUs
			placed := 0
			for i, n := range sizes {
				name := fmt.Sprintf("vm%d", i)
				pl, err := Place(hosts, Request{Name: name, VCPUs: n, MemoryMiB: 256, Pin: true}, pol)
				if errors.Is(err, ErrNoValidHost) {
					if placed+n <= 8 {
						t.Fatalf("%s (%d vCPUs) refused with %d of 8 CPUs given: %v", name, n, placed, err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				p := pl.Pinning
				if p == nil || len(p.VCPUs) != n {
					t.Fatalf("%s: pinning %+v for %d vCPUs", name, p, n)
				}
				for _, cpu := range p.VCPUs {
					if cpu < 0 || cpu > 7 {
						t.Fatalf("%s: CPU %d is not on the host", name, cpu)
					}
					if other, dup := given[cpu]; dup {
						t.Fatalf("%s: CPU %d already given to %s", name, cpu, other)
					}
					given[cpu] = name
				}
				if sorted := slices.Sorted(slices.Values(p.VCPUs)); !reflect.DeepEqual(p.Emulator, sorted) {
					t.Fatalf("%s: emulator %v, want the vCPU set %v", name, p.Emulator, sorted)
				}
				placed += n
				hosts[0].VMs = append(hosts[0].VMs, VM{Name: name, VCPUs: n, MemoryMiB: 256, PinnedCPUs: p.VCPUs, Cells: p.MemoryNodes})
			}
			if len(given) != 8 {
				t.Fatalf("gave %d CPUs, want all 8: %v", len(given), given)
			}
			_, err := Place(hosts, Request{Name: "last", VCPUs: 1, MemoryMiB: 256, Pin: true}, pol)
			if !errors.Is(err, ErrNoValidHost) {
				t.Fatalf("a full host took another pinned VM: %v", err)
			}
			wantContains(t, err.Error(), "vcpu: needs 1 dedicated CPU, 0 unpinned of 8 CPUs (8 pinned by")
		})
	}
}

func TestPinChoosesCells(t *testing.T) {
	pinned := func(name string, cpus ...int) VM { return VM{Name: name, VCPUs: len(cpus), PinnedCPUs: cpus} }
	lowMemCell1 := twoCellHost("h", pinned("p", 0, 1))
	lowMemCell1.Cells[1].FreeMiB = 100
	threeCells := Host{
		Name: "h", CPUs: 6, MemoryTotalMiB: 8192, MemoryFreeMiB: 8192,
		Cells: []Cell{
			{ID: 0, CPUs: []int{0, 1}, FreeMiB: 100},
			{ID: 1, CPUs: []int{2, 3}, FreeMiB: 200},
			{ID: 2, CPUs: []int{4, 5}, FreeMiB: 4000},
		},
	}
	noTopology := Host{Name: "h", CPUs: 4, MemoryTotalMiB: 4096, MemoryFreeMiB: 4096, Cells: []Cell{{ID: 0, MemoryMiB: 4096, FreeMiB: 4096}},
		VMs: []VM{pinned("p", 0)}}

	tests := []struct {
		name    string
		host    Host
		weigher string
		req     Request
		want    Pinning
	}{
		{name: "empty host: first cell, lowest CPUs", host: twoCellHost("h"), req: Request{VCPUs: 2, MemoryMiB: 1024},
			want: Pinning{VCPUs: []int{0, 1}, Emulator: []int{0, 1}, MemoryNodes: []int{0}}},
		{name: "spread: the cell with most free CPUs", host: twoCellHost("h", pinned("p", 0, 1)), req: Request{VCPUs: 2, MemoryMiB: 1024},
			want: Pinning{VCPUs: []int{4, 5}, Emulator: []int{4, 5}, MemoryNodes: []int{1}}},
		{name: "pack: the cell with fewest free CPUs that fits", host: twoCellHost("h", pinned("p", 0, 1)), weigher: WeighPack, req: Request{VCPUs: 2, MemoryMiB: 1024},
			want: Pinning{VCPUs: []int{2, 3}, Emulator: []int{2, 3}, MemoryNodes: []int{0}}},
		{name: "a cell without the memory is passed over", host: lowMemCell1, req: Request{VCPUs: 2, MemoryMiB: 1024},
			want: Pinning{VCPUs: []int{2, 3}, Emulator: []int{2, 3}, MemoryNodes: []int{0}}},
		{name: "no cell fits: span, most free cell first", host: twoCellHost("h", pinned("p", 0), pinned("q", 4, 5)), req: Request{VCPUs: 4, MemoryMiB: 1024},
			want: Pinning{VCPUs: []int{1, 2, 3, 6}, Emulator: []int{1, 2, 3, 6}, MemoryNodes: []int{0, 1}}},
		{name: "too big for one cell: both cells", host: twoCellHost("h"), req: Request{VCPUs: 6, MemoryMiB: 1024},
			want: Pinning{VCPUs: []int{0, 1, 2, 3, 4, 5}, Emulator: []int{0, 1, 2, 3, 4, 5}, MemoryNodes: []int{0, 1}}},
		{name: "memory too big for any cell: spans for memory", host: twoCellHost("h"), req: Request{VCPUs: 1, MemoryMiB: 6000},
			want: Pinning{VCPUs: []int{0}, Emulator: []int{0}, MemoryNodes: []int{0, 1}}},
		{name: "memory binding grows to cells with free memory", host: threeCells, req: Request{VCPUs: 3, MemoryMiB: 2048},
			want: Pinning{VCPUs: []int{0, 1, 2}, Emulator: []int{0, 1, 2}, MemoryNodes: []int{0, 1, 2}}},
		{name: "host without CPU lists per cell", host: noTopology, req: Request{VCPUs: 2, MemoryMiB: 1024},
			want: Pinning{VCPUs: []int{1, 2}, Emulator: []int{1, 2}, MemoryNodes: []int{0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := noReserve()
			pol.Weigher = tt.weigher
			tt.req.Name, tt.req.Pin = "x", true
			pl, err := Place([]Host{tt.host}, tt.req, pol)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*pl.Pinning, tt.want) {
				t.Fatalf("got %+v\nwant %+v", *pl.Pinning, tt.want)
			}
		})
	}
}

func TestPinOnlyWhenAsked(t *testing.T) {
	pl, err := Place([]Host{twoCellHost("h")}, Request{Name: "x", VCPUs: 2, MemoryMiB: 256}, DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if pl.Pinning != nil {
		t.Fatalf("floating VM got a pinning %+v", pl.Pinning)
	}
}

func TestPinShortOfCPUs(t *testing.T) {
	h := twoCellHost("h", VM{Name: "p", VCPUs: 7, PinnedCPUs: []int{0, 1, 2, 3, 4, 5, 6}})
	pol := noReserve()
	_, err := pin(newCapacity(&h, &pol), Request{VCPUs: 2, MemoryMiB: 1, Pin: true}, false)
	if !errors.Is(err, ErrNoValidHost) {
		t.Fatalf("err = %v, want ErrNoValidHost", err)
	}
}
