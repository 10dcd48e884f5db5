package scheduler

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"
)

// benchHosts is n two-cell hosts carrying m VMs between them, a quarter of
// them pinned and half of them in one group, so every filter and weigher
// has work to do.
func benchHosts(n, m int) []Host {
	hosts := make([]Host, n)
	for i := range hosts {
		hosts[i] = twoCellHost(fmt.Sprintf("h%03d", i))
		hosts[i].CPUs, hosts[i].MemoryTotalMiB, hosts[i].MemoryFreeMiB = 64, 1<<20, 1<<20
		hosts[i].Cells[0].CPUs, hosts[i].Cells[1].CPUs = seq(0, 32), seq(32, 64)
		hosts[i].Cells[0].MemoryMiB, hosts[i].Cells[1].MemoryMiB = 1<<19, 1<<19
		hosts[i].Cells[0].FreeMiB, hosts[i].Cells[1].FreeMiB = 1<<19, 1<<19
	}
	for j := 0; j < m; j++ {
		h := &hosts[j%n]
		vm := VM{Name: fmt.Sprintf("vm%05d", j), VCPUs: 1, MemoryMiB: 256}
		if j%4 == 0 {
			k := len(h.VMs) % 64
			vm.PinnedCPUs, vm.Cells = []int{k}, []int{k / 32}
		}
		if j%2 == 0 {
			vm.Group = "web"
		}
		h.VMs = append(h.VMs, vm)
	}
	return hosts
}

func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// reportPercentiles adds p50 and p99 per operation, since ns/op is a mean
// and a scheduler's latency is judged by its median and tail.
func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkPlace is the pure decision: filters, weighers and pinning over
// N hosts holding M VMs.
func BenchmarkPlace(b *testing.B) {
	for _, c := range []struct{ hosts, vms int }{{1, 0}, {2, 10}, {10, 100}, {100, 1000}, {1000, 10000}} {
		hosts := benchHosts(c.hosts, c.vms)
		for _, pin := range []bool{false, true} {
			req := Request{Name: "new", VCPUs: 2, MemoryMiB: 1024, Pin: pin, Group: "web", GroupPolicy: GroupPack}
			b.Run(fmt.Sprintf("hosts=%d/vms=%d/pin=%v", c.hosts, c.vms, pin), func(b *testing.B) {
				durs := make([]time.Duration, 0, b.N)
				b.ReportAllocs()
				for b.Loop() {
					t0 := time.Now()
					if _, err := Place(hosts, req, DefaultPolicy()); err != nil {
						b.Fatal(err)
					}
					durs = append(durs, time.Since(t0))
				}
				reportPercentiles(b, durs)
			})
		}
	}
}

// BenchmarkReserve adds what every create pays on top of Place: the
// cross-process lock, reading live claims and writing one (on disk, as in
// production). Inventory is served from memory; gathering it over libvirt
// is measured by `vmctl place` against real hosts.
func BenchmarkReserve(b *testing.B) {
	for _, c := range []struct{ hosts, vms int }{{1, 0}, {2, 10}, {10, 100}} {
		hosts := benchHosts(c.hosts, c.vms)
		inv := func(context.Context) ([]Host, error) { return hosts, nil }
		b.Run(fmt.Sprintf("hosts=%d/vms=%d", c.hosts, c.vms), func(b *testing.B) {
			store, err := NewClaimStore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			req := Request{Name: "new", VCPUs: 1, MemoryMiB: 256}
			durs := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				_, release, err := store.Reserve(context.Background(), inv, req, DefaultPolicy())
				if err != nil {
					b.Fatal(err)
				}
				durs = append(durs, time.Since(t0))
				if err := release(); err != nil {
					b.Fatal(err)
				}
			}
			reportPercentiles(b, durs)
		})
	}
}
