package scheduler

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// oneCellHost is a reachable KVM host with every CPU in cell 0 and all its
// memory free.
func oneCellHost(name string, cpus, memMiB int, vms ...VM) Host {
	ids := make([]int, cpus)
	for i := range ids {
		ids[i] = i
	}
	return Host{
		Name: name, URI: "qemu+tcp://" + name + "/system", KVM: true,
		CPUs: cpus, MemoryTotalMiB: memMiB, MemoryFreeMiB: memMiB,
		Cells: []Cell{{ID: 0, CPUs: ids, MemoryMiB: memMiB, FreeMiB: memMiB}},
		VMs:   vms,
	}
}

// twoCellHost is 8 CPUs in two NUMA cells, 0-3 and 4-7, 4096 MiB each.
func twoCellHost(name string, vms ...VM) Host {
	return Host{
		Name: name, URI: "qemu+tcp://" + name + "/system", KVM: true,
		CPUs: 8, MemoryTotalMiB: 8192, MemoryFreeMiB: 8192,
		Cells: []Cell{
			{ID: 0, CPUs: []int{0, 1, 2, 3}, MemoryMiB: 4096, FreeMiB: 4096},
			{ID: 1, CPUs: []int{4, 5, 6, 7}, MemoryMiB: 4096, FreeMiB: 4096},
		},
		VMs: vms,
	}
}

// noReserve is the default policy without the memory reserve, so test
// numbers stay round.
func noReserve() Policy {
	p := DefaultPolicy()
	p.ReserveMiB = 0
	return p
}

func hostNames(vs []Verdict) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Host
	}
	return strings.Join(names, ",")
}

func wantContains(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%q\n  does not contain %q", got, w)
		}
	}
}

// exitedPID runs a process to its end and returns its pid: a pid nothing
// owns any more.
func exitedPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.Pid()
}
