//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/internal/testhost"
	"github.com/vmctl/vmctl/scheduler"
)

// startTestHost brings up a second libvirtd in its own network and mount
// namespace (scripts/testhost.sh), reachable only at its namespace address.
func startTestHost(t *testing.T, name string, index int) string {
	t.Helper()
	return testhost.Up(t, filepath.Join("..", ".."), name, index)
}

func writeHostsFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hosts.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// vmctlMemoryInUse is the guest memory vmctl VMs other than this test's
// already hold on the local host. The scheduler rightly counts them against
// a host's memory_mib, so the tests add it on top of the capacity they mean
// to offer: another vmctl run on the same machine (a CI job, an operator's
// VMs) must not change what these tests expect.
func vmctlMemoryInUse(t *testing.T) int {
	t.Helper()
	r := mustVMCTL(t, t.TempDir(), "--connect", "qemu:///system", "-o", "json", "hosts")
	var inv []scheduler.Host
	if err := json.Unmarshal([]byte(r.stdout), &inv); err != nil || len(inv) != 1 {
		t.Fatalf("local inventory: %v\n%s", err, r.stdout)
	}
	used := 0
	for _, v := range inv[0].VMs {
		used += v.MemoryMiB
	}
	if used > 0 {
		t.Logf("other vmctl VMs hold %d MiB on the local host; offering that much more", used)
	}
	return used
}

func TestTwoHostsSpreadExecRemove(t *testing.T) {
	uri2 := startTestHost(t, "it2", 2)
	hosts := writeHostsFile(t, fmt.Sprintf(`hosts:
  - name: local
    uri: qemu:///system
    memory_mib: %d
  - name: h2
    uri: %s
    memory_mib: 2048
`, 2048+vmctlMemoryInUse(t), uri2))
	state := t.TempDir()
	a, b := vmName(t, "spread-a"), vmName(t, "spread-b")
	t.Cleanup(func() {
		vmctl(t, state, "--hosts", hosts, "vm", "rm", a, b)
		assertGone(t, state, []string{"--hosts", hosts}, a, b)
		assertNothingLeft(t, state, a, b)
	})

	// Inventory: both hosts reachable, with topology.
	r := mustVMCTL(t, state, "--hosts", hosts, "-o", "json", "hosts")
	var inv []scheduler.Host
	if err := json.Unmarshal([]byte(r.stdout), &inv); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(inv) != 2 || inv[0].Err != "" || inv[1].Err != "" || len(inv[1].Cells) == 0 {
		t.Fatalf("inventory: %+v", inv)
	}

	// The dry run explains itself for both hosts.
	r = mustVMCTL(t, state, "--hosts", hosts, "place", "--vcpus", "1", "--memory", "256", "--explain")
	if !strings.Contains(r.stdout, "local") || !strings.Contains(r.stdout, "h2") || !strings.Contains(r.stdout, "chosen host") {
		t.Fatalf("place --explain:\n%s", r.stdout)
	}

	// Spread: the second VM goes to the host the first did not take.
	ra := mustVMCTL(t, state, "--hosts", hosts, "-o", "json", "vm", "create", a, "--memory", "256")
	rb := mustVMCTL(t, state, "--hosts", hosts, "-o", "json", "vm", "create", b, "--memory", "256")
	var ca, cb scheduler.CreateResult
	json.Unmarshal([]byte(ra.stdout), &ca)
	json.Unmarshal([]byte(rb.stdout), &cb)
	if ca.Host == "" || cb.Host == "" || ca.Host == cb.Host {
		t.Fatalf("spread placed both on %q/%q", ca.Host, cb.Host)
	}

	// vm list shows both with their hosts; exec finds each wherever it is,
	// including through libvirt's channel stream on the remote host.
	r = mustVMCTL(t, state, "--hosts", hosts, "-o", "json", "vm", "list")
	var vms []hypervisor.DomainInfo
	json.Unmarshal([]byte(r.stdout), &vms)
	hostOf := map[string]string{}
	for _, v := range vms {
		hostOf[v.Name] = v.Host
	}
	if hostOf[a] != ca.Host || hostOf[b] != cb.Host {
		t.Fatalf("list hosts %v, created on %s/%s", hostOf, ca.Host, cb.Host)
	}
	for _, n := range []string{a, b} {
		r := mustVMCTL(t, state, "--hosts", hosts, "vm", "exec", n, "--", "sh", "-c", "echo $(hostname) ok")
		if strings.TrimSpace(r.stdout) != "vmctl ok" {
			t.Fatalf("exec in %s on %s: %q", n, hostOf[n], r.stdout)
		}
	}

	// Too big for either host: fails naming each host, creates nothing.
	big := vmName(t, "toobig")
	r = vmctl(t, state, "--hosts", hosts, "vm", "create", big, "--memory", "4096")
	if r.code == 0 || !strings.Contains(r.stderr, "no valid host") || !strings.Contains(r.stderr, "local") || !strings.Contains(r.stderr, "h2") {
		t.Fatalf("oversized create: code %d stderr %q", r.code, r.stderr)
	}
	assertGone(t, state, []string{"--hosts", hosts}, big)

	mustVMCTL(t, state, "--hosts", hosts, "vm", "rm", a, b)
	assertGone(t, state, []string{"--hosts", hosts}, a, b)
	assertNothingLeft(t, state, a, b)
}

func TestConcurrentCreatesNeverOverAdmit(t *testing.T) {
	// One host whose admitted capacity is 1024 MiB: exactly four 256 MiB
	// VMs fit, whatever the interleaving of ten vmctl processes.
	hosts := writeHostsFile(t, fmt.Sprintf("hosts:\n  - name: local\n    uri: qemu:///system\n    memory_mib: %d\n    reserve_mib: 0\n", 1024+vmctlMemoryInUse(t)))
	state := t.TempDir()
	names := make([]string, 10)
	for i := range names {
		names[i] = vmName(t, fmt.Sprintf("c%d", i))
	}
	t.Cleanup(func() {
		vmctl(t, state, append([]string{"--hosts", hosts, "vm", "rm"}, names...)...)
		assertNothingLeft(t, state, names...)
	})
	var wg sync.WaitGroup
	results := make([]result, len(names))
	for i, n := range names {
		wg.Add(1)
		go func(i int, n string) {
			defer wg.Done()
			results[i] = vmctl(t, state, "--hosts", hosts, "vm", "create", n, "--memory", "256", "--no-wait")
		}(i, n)
	}
	wg.Wait()
	ok := 0
	for i, r := range results {
		switch {
		case r.code == 0:
			ok++
		case !strings.Contains(r.stderr, "no valid host") || !strings.Contains(r.stderr, "memory"):
			t.Errorf("%s failed for another reason than memory: %q", names[i], r.stderr)
		}
	}
	if ok != 4 {
		t.Fatalf("%d of 10 creates admitted, want exactly 4", ok)
	}
	r := mustVMCTL(t, state, "--hosts", hosts, "-o", "json", "vm", "list")
	var vms []hypervisor.DomainInfo
	json.Unmarshal([]byte(r.stdout), &vms)
	mine := 0
	for _, v := range vms {
		if strings.HasPrefix(v.Name, vmName(t, "c")) {
			mine++
		}
	}
	if mine != 4 {
		t.Fatalf("%d VMs exist, want 4", mine)
	}
}
