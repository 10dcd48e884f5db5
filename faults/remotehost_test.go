//go:build faults

package faults

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/internal/testhost"
	"github.com/vmctl/vmctl/jobs"
)

// The remote scenario's test host: its name and its 10.213.INDEX.0/30
// network (other suites use low indexes).
const (
	remoteHostName  = "f12"
	remoteHostIndex = 12
)

// setLink takes the test host's end of its veth down or up: down, the
// host is silent (no RST, no FIN), as when it loses power or its network;
// only keepalive and the agent's liveness check can tell. The host's end
// stays up, so the route to the test host stays on the veth and nothing
// is sent anywhere else meanwhile.
func setLink(t *testing.T, name string, index int, state string) {
	t.Helper()
	if out, err := exec.Command("ip", "-n", "vmctl-"+name, "link", "set", fmt.Sprintf("vmg%d", index), state).CombinedOutput(); err != nil {
		t.Fatalf("ip -n vmctl-%s link set vmg%d %s: %v\n%s", name, index, state, err, out)
	}
}

// TestScenario12RemoteHostLost runs a job with one worker on this host and
// one on a second libvirt host, then cuts the second host off mid-job. Its
// worker must be declared lost within the keepalive window (5 s x 5), its
// partitions finish on the local worker with the native result, and the
// job must name the remote VM it could not remove (exit 3). Once the host
// is back, `vmctl gc --yes` removes that VM: nothing is left on either.
func TestScenario12RemoteHostLost(t *testing.T) {
	const keepaliveWindow = 30 * time.Second
	s := newScenario(t, "12 remote host lost mid-job")
	s.run(func(t *testing.T, r *runEnv) {
		uri := testhost.Up(t, suite.root, remoteHostName, remoteHostIndex)
		// One worker per host: the local host takes one more vmctl VM
		// than it has, the remote one takes one.
		local := 1 + countVMs(t, r, "")
		hosts := filepath.Join(r.tmp, "hosts.yaml")
		writeFile(t, hosts, fmt.Sprintf(`hosts:
  - name: local
    uri: qemu:///system
    max_vms: %d
  - name: h2
    uri: %s
    max_vms: 1
`, local, uri))
		t.Cleanup(func() {
			setLink(t, remoteHostName, remoteHostIndex, "up")
			r.vmctl("--hosts", hosts, "gc", "--yes")
		})
		job := sleepJob{partitions: 10, pool: 2, maxAttempts: 3, sleep: 3 * time.Second}
		spec := job.write(t, r)
		want := job.native(t, r)
		dir := filepath.Join(r.jobsDir, "job")
		p := startJob(t, r, nil, "--hosts", hosts, "-o", "json", "job", "run", spec, "--dir", dir, "--no-progress")
		a := waitJournal(t, dir, 2*time.Minute, func(rec jobs.Record) bool {
			return rec.Type == jobs.RecordAttempt && rec.Host == "h2"
		})
		time.Sleep(500 * time.Millisecond)
		cut := time.Now()
		setLink(t, remoteHostName, remoteHostIndex, "down")
		f, took := failedAfter(t, dir, a, cut, 2*time.Minute)
		res := p.wait(6 * time.Minute)
		setLink(t, remoteHostName, remoteHostIndex, "up")
		onLocal := 0
		for _, rec := range journal(t, dir) {
			if rec.Type == jobs.RecordResult && rec.Time.After(cut) {
				if rec.Host != "local" {
					t.Errorf("partition %d finished on %s after h2 was cut off", rec.Partition, rec.Host)
				}
				onLocal++
			}
		}
		s.figure("h2 cut off: its worker %s lost after %s (%s); %d partitions then finished on local; job exit %d after %s",
			a.VM, took.Round(time.Millisecond), clipErr(f.Error), onLocal, res.code, res.took.Round(time.Millisecond))
		if took > keepaliveWindow {
			t.Errorf("the lost host's worker was declared lost after %s, want within %s", took, keepaliveWindow)
		}
		if got := jobValue(t, res.stdout); got != want {
			t.Fatalf("result %v, native %v", got, want)
		}
		resultsOnce(t, dir, job.partitions)
		// The remote worker could not be removed while its host was cut
		// off: the job says so by name, with exit 3.
		switch res.code {
		case 3:
			if !strings.Contains(res.stderr, a.VM) {
				t.Errorf("exit 3 without naming the remote worker %s:\n%s", a.VM, lastLine(res.stderr))
			}
		case 0:
			t.Logf("the remote worker was removed (the link came back in time)")
		default:
			t.Fatalf("job exit %d:\n%s", res.code, res.stderr)
		}
		// With the host back, gc finds the orphan and removes it.
		deadline := time.Now().Add(time.Minute)
		for countVMs(t, r, hosts) > 0 {
			r.vmctl("--hosts", hosts, "gc", "--yes")
			if time.Now().After(deadline) {
				t.Fatalf("VMs of the run still exist a minute after the host came back")
			}
			time.Sleep(time.Second)
		}
	})
}

// countVMs counts the vmctl VMs on the hosts (--hosts file, or the local
// host); with a hosts file only the run's own VMs.
func countVMs(t *testing.T, r *runEnv, hosts string) int {
	t.Helper()
	args := []string{"-o", "json", "vm", "list"}
	if hosts != "" {
		args = append([]string{"--hosts", hosts}, args...)
	}
	res := r.vmctl(args...)
	var vms []hypervisor.DomainInfo
	if err := json.Unmarshal([]byte(res.stdout), &vms); err != nil {
		t.Fatalf("vm list: %v\n%s%s", err, res.stdout, res.stderr)
	}
	if hosts == "" {
		return len(vms)
	}
	n := 0
	for _, v := range vms {
		if r.ours(v.Name) {
			n++
		}
	}
	return n
}
