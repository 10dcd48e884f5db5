package scheduler

import "testing"

// checkFilter runs one filter on one host, the way Place does.
func checkFilter(t *testing.T, f filter, h Host, req Request, pol Policy) (bool, string) {
	t.Helper()
	return f.Check(newCapacity(&h, &pol), req)
}

type filterCase struct {
	name   string
	host   Host
	req    Request
	pol    Policy
	pass   bool
	reason string // exact, when it fails
}

func runFilterCases(t *testing.T, f filter, tests []filterCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := checkFilter(t, f, tt.host, tt.req, tt.pol)
			if ok != tt.pass || why != tt.reason {
				t.Fatalf("got (%v, %q)\nwant (%v, %q)", ok, why, tt.pass, tt.reason)
			}
		})
	}
}

func TestReachableFilter(t *testing.T) {
	down := oneCellHost("h", 4, 1024)
	down.Err = "dial tcp 10.0.0.2:16509: connection refused"
	runFilterCases(t, reachableFilter{}, []filterCase{
		{name: "reachable", host: oneCellHost("h", 4, 1024), req: Request{VCPUs: 1, MemoryMiB: 1}, pol: noReserve(), pass: true},
		{name: "unreachable gives the error", host: down, req: Request{VCPUs: 1, MemoryMiB: 1}, pol: noReserve(),
			reason: "dial tcp 10.0.0.2:16509: connection refused"},
	})
}

func TestKVMFilter(t *testing.T) {
	tcg := oneCellHost("h", 4, 1024)
	tcg.KVM, tcg.KVMReason = false, "/dev/kvm missing (no vmx/svm in the host CPU)"
	silent := tcg
	silent.KVMReason = ""
	runFilterCases(t, kvmFilter{}, []filterCase{
		{name: "not required", host: tcg, req: Request{VCPUs: 1, MemoryMiB: 1}, pass: true},
		{name: "required and usable", host: oneCellHost("h", 4, 1024), req: Request{VCPUs: 1, MemoryMiB: 1, RequireKVM: true}, pass: true},
		{name: "required, not usable", host: tcg, req: Request{VCPUs: 1, MemoryMiB: 1, RequireKVM: true},
			reason: "KVM required, not usable here: /dev/kvm missing (no vmx/svm in the host CPU)"},
		{name: "required, no reason known", host: silent, req: Request{VCPUs: 1, MemoryMiB: 1, RequireKVM: true},
			reason: "KVM required, not usable here: no reason given"},
	})
}

func TestMaxVMsFilter(t *testing.T) {
	withLimit := func(max int, vms ...VM) Host {
		h := oneCellHost("h", 4, 4096, vms...)
		h.Limits.MaxVMs = ptr(max)
		return h
	}
	req := Request{VCPUs: 1, MemoryMiB: 1}
	runFilterCases(t, maxVMsFilter{}, []filterCase{
		{name: "no limit", host: oneCellHost("h", 4, 4096, VM{Name: "a"}, VM{Name: "b"}), req: req, pass: true},
		{name: "below the limit", host: withLimit(2, VM{Name: "a"}), req: req, pass: true},
		{name: "at the limit", host: withLimit(2, VM{Name: "a"}, VM{Name: "b"}), req: req, reason: "host has 2 VMs, max_vms 2"},
		{name: "zero drains the host", host: withLimit(0), req: req, reason: "host has 0 VMs, max_vms 0"},
	})
}

func TestMemoryFilter(t *testing.T) {
	vms := []VM{{Name: "a", VCPUs: 1, MemoryMiB: 100}, {Name: "b", VCPUs: 1, MemoryMiB: 112}}
	capped := oneCellHost("h", 4, 4096, vms...)
	capped.Limits.MemoryMiB = ptr(1024)
	overcommit := oneCellHost("h", 4, 1024, VM{Name: "a", VCPUs: 1, MemoryMiB: 1024})
	overcommit.Limits.RAMAllocationRatio = ptr(1.5)
	overcommit.MemoryFreeMiB = 100
	busy := oneCellHost("h", 4, 8192)
	busy.MemoryFreeMiB = 600
	busyOvercommit := busy
	busyOvercommit.Limits.RAMAllocationRatio = ptr(1.5)
	hostReserve := oneCellHost("h", 4, 1024)
	hostReserve.Limits.ReserveMiB = ptr(0)

	runFilterCases(t, memoryFilter{}, []filterCase{
		{name: "fits exactly", host: oneCellHost("h", 4, 1024), req: Request{VCPUs: 1, MemoryMiB: 1024}, pol: noReserve(), pass: true},
		{name: "ratio rounding never loses a MiB", host: func() Host {
			h := oneCellHost("h", 4, 50) // 50 x 2.3 is 114.99999999999999
			h.Limits.RAMAllocationRatio = ptr(2.3)
			return h
		}(), req: Request{VCPUs: 1, MemoryMiB: 115}, pol: noReserve(), pass: true},
		{name: "one MiB over", host: oneCellHost("h", 4, 1024), req: Request{VCPUs: 1, MemoryMiB: 1025}, pol: noReserve(),
			reason: "needs 1025 MiB, 1024 MiB left of 1024 MiB (ratio 1.0, reserve 0 MiB, 0 VMs use 0 MiB)"},
		{name: "reserve and VMs counted", host: oneCellHost("h", 4, 1024, vms...), req: Request{VCPUs: 1, MemoryMiB: 512}, pol: DefaultPolicy(),
			reason: "needs 512 MiB, 300 MiB left of 1024 MiB (ratio 1.0, reserve 512 MiB, 2 VMs use 212 MiB)"},
		{name: "memory_mib caps the host", host: capped, req: Request{VCPUs: 1, MemoryMiB: 1024}, pol: noReserve(),
			reason: "needs 1024 MiB, 812 MiB left of 1024 MiB (memory_mib; host has 4096 MiB) (ratio 1.0, reserve 0 MiB, 2 VMs use 212 MiB)"},
		{name: "host reserve overrides the policy", host: hostReserve, req: Request{VCPUs: 1, MemoryMiB: 1024}, pol: DefaultPolicy(), pass: true},
		{name: "ratio above 1 overcommits and skips the free check", host: overcommit, req: Request{VCPUs: 1, MemoryMiB: 512}, pol: noReserve(), pass: true},
		{name: "overcommit still has a limit", host: overcommit, req: Request{VCPUs: 1, MemoryMiB: 513}, pol: noReserve(),
			reason: "needs 513 MiB, 512 MiB left of 1024 MiB (ratio 1.5, reserve 0 MiB, 1 VM uses 1024 MiB)"},
		{name: "kernel free memory checked at ratio 1", host: busy, req: Request{VCPUs: 1, MemoryMiB: 256}, pol: DefaultPolicy(),
			reason: "needs 256 MiB, host reports 600 MiB free, 88 MiB after the 512 MiB reserve (checked since ratio 1.0 does not overcommit)"},
		{name: "kernel free memory enough", host: busy, req: Request{VCPUs: 1, MemoryMiB: 88}, pol: DefaultPolicy(), pass: true},
		{name: "kernel free memory not checked when overcommitting", host: busyOvercommit, req: Request{VCPUs: 1, MemoryMiB: 4096}, pol: DefaultPolicy(), pass: true},
	})
}

func TestVCPUFilter(t *testing.T) {
	floating := func(n, vcpus int) []VM {
		out := make([]VM, n)
		for i := range out {
			out[i] = VM{Name: string(rune('a' + i)), VCPUs: vcpus, MemoryMiB: 1}
		}
		return out
	}
	ratio1 := noReserve()
	ratio1.CPUAllocationRatio = 1
	halfPinned := oneCellHost("h", 4, 4096, VM{Name: "p", VCPUs: 2, PinnedCPUs: []int{0, 1}}, VM{Name: "f", VCPUs: 2})
	mostlyPinned := oneCellHost("h", 8, 4096,
		VM{Name: "p1", VCPUs: 2, PinnedCPUs: []int{0, 1}},
		VM{Name: "p2", VCPUs: 2, PinnedCPUs: []int{2, 3}},
		VM{Name: "p3", VCPUs: 2, PinnedCPUs: []int{4, 5}})
	fractional := oneCellHost("h", 3, 4096, floating(2, 2)...)
	fractional.Limits.CPUAllocationRatio = ptr(1.5)

	runFilterCases(t, vcpuFilter{}, []filterCase{
		{name: "floating fits the last vCPU", host: oneCellHost("h", 4, 4096, floating(5, 3)...), req: Request{VCPUs: 1, MemoryMiB: 1}, pol: noReserve(), pass: true},
		{name: "floating over the ratio", host: oneCellHost("h", 4, 4096, floating(5, 3)...), req: Request{VCPUs: 2, MemoryMiB: 1}, pol: noReserve(),
			reason: "needs 2 vCPUs, 1 left of 16 shared (4 CPUs - 0 pinned, ratio 4.0; 5 floating VMs use 15 vCPUs)"},
		{name: "pinned CPUs leave the shared pool", host: halfPinned, req: Request{VCPUs: 1, MemoryMiB: 1}, pol: ratio1,
			reason: "needs 1 vCPU, 0 left of 2 shared (4 CPUs - 2 pinned, ratio 1.0; 1 floating VM uses 2 vCPUs)"},
		{name: "fractional capacity", host: fractional, req: Request{VCPUs: 1, MemoryMiB: 1}, pol: noReserve(),
			reason: "needs 1 vCPU, 0.5 left of 4.5 shared (3 CPUs - 0 pinned, ratio 1.5; 2 floating VMs use 4 vCPUs)"},
		{name: "ratio rounding never refuses an exact fit", host: func() Host {
			h := oneCellHost("h", 45, 4096, floating(1, 62)...) // 45 x 1.4 is 62.99999999999999
			h.Limits.CPUAllocationRatio = ptr(1.4)
			return h
		}(), req: Request{VCPUs: 1, MemoryMiB: 1}, pol: noReserve(), pass: true},
		{name: "pinned gets whole CPUs, not the ratio", host: oneCellHost("h", 4, 4096), req: Request{VCPUs: 4, MemoryMiB: 1, Pin: true}, pol: noReserve(), pass: true},
		{name: "pinned needs unpinned CPUs", host: mostlyPinned, req: Request{VCPUs: 4, MemoryMiB: 1, Pin: true}, pol: noReserve(),
			reason: "needs 4 dedicated CPUs, 2 unpinned of 8 CPUs (6 pinned by 3 VMs)"},
		{name: "pinned must not squeeze floating VMs", host: oneCellHost("h", 4, 4096, floating(1, 3)...), req: Request{VCPUs: 2, MemoryMiB: 1, Pin: true}, pol: ratio1,
			reason: "pinning 2 CPUs would leave 2 shared vCPUs ((4 CPUs - 0 pinned - 2) x ratio 1.0) for the 3 vCPUs of 1 floating VM"},
		{name: "pinned fits beside floating VMs under the ratio", host: oneCellHost("h", 4, 4096, floating(1, 3)...), req: Request{VCPUs: 2, MemoryMiB: 1, Pin: true}, pol: noReserve(), pass: true},
	})
}

func TestGroupFilter(t *testing.T) {
	web := func(name string) VM { return VM{Name: name, VCPUs: 1, MemoryMiB: 1, Group: "web"} }
	h1 := oneCellHost("h1", 4, 4096, web("web-1"), web("web-0"))
	h2 := oneCellHost("h2", 4, 4096, VM{Name: "other", Group: "db"})
	h3 := oneCellHost("h3", 4, 4096)
	down := oneCellHost("h4", 4, 4096, web("web-9"))
	down.Err = "unreachable"
	spread := Request{VCPUs: 1, MemoryMiB: 1, Group: "web", GroupPolicy: GroupSpread}
	pack := Request{VCPUs: 1, MemoryMiB: 1, Group: "web", GroupPolicy: GroupPack}
	fleet := []Host{h1, h2, h3, down}

	tests := []struct {
		name   string
		hosts  []Host
		host   Host
		req    Request
		pass   bool
		reason string
	}{
		{name: "no group", hosts: fleet, host: h1, req: Request{VCPUs: 1, MemoryMiB: 1}, pass: true},
		{name: "spread: member here", hosts: fleet, host: h1, req: spread, reason: "group web (spread) already has web-0, web-1 here"},
		{name: "spread: other groups do not count", hosts: fleet, host: h2, req: spread, pass: true},
		{name: "pack: on a member's host", hosts: fleet, host: h1, req: pack, pass: true},
		{name: "pack: elsewhere", hosts: fleet, host: h3, req: pack, reason: "group web (pack) lives on h1, none of it here"},
		{name: "pack: first member goes anywhere", hosts: []Host{h2, h3}, host: h3, req: pack, pass: true},
		{name: "pack: unreachable hosts do not anchor the group", hosts: []Host{h2, h3, down}, host: h3, req: pack, pass: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := checkFilter(t, newGroupFilter(tt.hosts, tt.req), tt.host, tt.req, noReserve())
			if ok != tt.pass || why != tt.reason {
				t.Fatalf("got (%v, %q)\nwant (%v, %q)", ok, why, tt.pass, tt.reason)
			}
		})
	}
}
