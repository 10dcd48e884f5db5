//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/reap"
)

// gcJSON runs `vmctl gc -o json` (extra args after it) and decodes the array.
func gcJSON(t *testing.T, state string, global []string, args ...string) ([]reap.Finding, string) {
	t.Helper()
	r := mustVMCTL(t, state, append(append(append([]string{}, global...), "-o", "json", "gc"), args...)...)
	var found []reap.Finding
	if err := json.Unmarshal([]byte(r.stdout), &found); err != nil || found == nil {
		t.Fatalf("gc -o json must print a JSON array: %v\n%s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return found, r.stdout
}

// about keeps the findings for the named VMs.
func about(found []reap.Finding, names ...string) []reap.Finding {
	return reap.Filter(found, names)
}

// TestGCReapsAKilledJobsWorker kills `vmctl job run` with SIGKILL while its
// worker runs a partition, and checks that gc lists the worker's domain
// (its state dir covered by it), removes it with --yes, and never lists a
// `vm create`d VM, which has no owner.
func TestGCReapsAKilledJobsWorker(t *testing.T) {
	state, dir := jobEnv(t)
	global := []string{"--claims-dir", t.TempDir()}

	// The user's VM: no owner, never garbage.
	userVM := vmName(t, "gc-user")
	t.Cleanup(func() { vmctl(t, state, "vm", "rm", userVM) })
	mustVMCTL(t, state, append(global, "vm", "create", userVM, "--memory", "256")...)

	spec := filepath.Join(dir, "gc.yaml")
	body := `name: gc
vm: {vcpus: 1, memory_mib: 256, accel: tcg}
pool: {size: 1, slots: 1}
workload:
  exec: ["sh", "-c", "sleep 600; echo 1"]
partition: {count: 1}
reduce: sum
timeout: 15m
max_attempts: 1
`
	if err := os.WriteFile(spec, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	jd := filepath.Join(dir, "job")
	args := append(append([]string{"--state-dir", state, "--image-dir", imageDir}, global...), "job", "run", spec, "--dir", jd, "--no-progress")
	cmd := exec.Command(filepath.Join(binDir, "vmctl"), args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	worker := waitForRunningPartition(t, jd)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	pid := cmd.Process.Pid

	// Dry run: the worker's domain, owned by the killed process; not its
	// state dir on its own, not the user's VM.
	found, _ := gcJSON(t, state, global)
	mine := about(found, worker, userVM)
	if len(mine) != 1 {
		t.Fatalf("gc listed %+v for %s and %s: want only the worker's domain", mine, worker, userVM)
	}
	f := mine[0]
	if f.Kind != reap.KindDomain || f.Name != worker || f.Host != "local" || f.Removed || f.Error != "" ||
		!strings.Contains(f.Owner, fmt.Sprintf("pid %d", pid)) || !strings.Contains(f.Reason, "gone") || f.Path != filepath.Join(state, worker) {
		t.Fatalf("finding %+v: want the domain %s of the killed pid %d", f, worker, pid)
	}
	if _, err := os.Stat(filepath.Join(state, worker)); err != nil {
		t.Fatalf("the worker's state dir should still be there before gc --yes: %v", err)
	}

	// Remove it. Other vmctl users' leftovers on this host (another test
	// binary, an operator's) are not this test's to remove: when there
	// are any, gc is given the worker's name.
	rmArgs := []string{"gc", "--yes"}
	if len(found) != len(mine) {
		t.Logf("gc also lists leftovers that are not this test's; removing only %s: %+v", worker, found)
		rmArgs = append(rmArgs, worker)
	}
	r := mustVMCTL(t, state, append(global, rmArgs...)...)
	if !strings.Contains(r.stdout, worker) || !strings.Contains(r.stdout, "removed") {
		t.Fatalf("gc --yes output:\n%s", r.stdout)
	}

	// Afterwards: nothing of this test's is listed, the worker is gone, the
	// user's VM stays.
	_, raw := gcJSON(t, state, global, worker, userVM)
	if strings.TrimSpace(raw) != "[]" {
		t.Fatalf("gc -o json after gc --yes printed %s, want []", raw)
	}
	if found, raw := gcJSON(t, state, global); len(found) > 0 {
		if len(about(found, worker, userVM)) > 0 {
			t.Fatalf("gc still lists this test's VMs: %s", raw)
		}
		t.Logf("leftovers of other vmctl users on this host: %s", raw)
	}
	lr := mustVMCTL(t, state, "-o", "json", "vm", "list")
	var vms []hypervisor.DomainInfo
	if err := json.Unmarshal([]byte(lr.stdout), &vms); err != nil {
		t.Fatal(err)
	}
	user := false
	for _, v := range vms {
		if v.Name == worker {
			t.Fatalf("vm list still has %s", worker)
		}
		user = user || v.Name == userVM
	}
	if !user {
		t.Fatalf("gc removed the user's VM %s", userVM)
	}
	assertGone(t, state, nil, worker)
}
