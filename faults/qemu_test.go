//go:build faults

package faults

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/jobs"
)

// qemuOf is the QEMU process of a running local VM.
func qemuOf(t *testing.T, vm string) int {
	t.Helper()
	pid, err := hypervisor.QEMUPid(hypervisor.QEMURunDir, vm)
	if err != nil || pid <= 0 {
		t.Fatalf("QEMU pid of %s: %v", vm, err)
	}
	// Never leave a stopped QEMU behind, whatever the run did.
	t.Cleanup(func() {
		if syscall.Kill(pid, 0) == nil {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	return pid
}

// firstAttempt waits for an attempt record (of partition part, or any when
// part < 0) and returns it.
func firstAttempt(t *testing.T, dir string, part, attempt int) jobs.Record {
	t.Helper()
	return waitJournal(t, dir, 2*time.Minute, func(rec jobs.Record) bool {
		return rec.Type == jobs.RecordAttempt && (part < 0 || rec.Partition == part) && (attempt == 0 || rec.Attempt == attempt)
	})
}

// failedAfter waits for the failed record of that attempt and returns how
// long after since it was written.
func failedAfter(t *testing.T, dir string, a jobs.Record, since time.Time, limit time.Duration) (jobs.Record, time.Duration) {
	t.Helper()
	rec := waitJournal(t, dir, limit, func(rec jobs.Record) bool {
		return rec.Type == jobs.RecordFailed && rec.Partition == a.Partition && rec.Attempt == a.Attempt
	})
	return rec, rec.Time.Sub(since)
}

// TestScenario04QEMUKilled kills a worker's QEMU with SIGKILL while it runs
// a partition: the loss is seen within 5 s, the partition runs again on
// another worker, and the job gives the native result. Then a partition
// whose every worker dies fails the job cleanly after max_attempts,
// naming it.
func TestScenario04QEMUKilled(t *testing.T) {
	const detect = 5 * time.Second
	s := newScenario(t, "4 QEMU SIGKILL mid-partition")
	s.run(func(t *testing.T, r *runEnv) {
		job := sleepJob{partitions: 8, pool: 2, maxAttempts: 3, sleep: 3 * time.Second}
		spec := job.write(t, r)
		want := job.native(t, r)
		dir := filepath.Join(r.jobsDir, "job")
		p := startJob(t, r, nil, "-o", "json", "job", "run", spec, "--dir", dir, "--no-progress")
		a := firstAttempt(t, dir, -1, 0)
		time.Sleep(500 * time.Millisecond) // into the partition's sleep
		pid := qemuOf(t, a.VM)
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		f, took := failedAfter(t, dir, a, killed, time.Minute)
		res := p.wait(5 * time.Minute)
		s.figure("SIGKILL of %s's QEMU: partition %d's attempt failed %s later (%s); job exit %d after %s",
			a.VM, a.Partition, took.Round(time.Millisecond), clipErr(f.Error), res.code, res.took.Round(time.Millisecond))
		if took > detect {
			t.Errorf("the dead worker was noticed after %s, want at most %s", took, detect)
		}
		if res.code != 0 {
			t.Fatalf("job exit %d:\n%s", res.code, res.stderr)
		}
		if got := jobValue(t, res.stdout); got != want {
			t.Fatalf("result %v, native %v", got, want)
		}
		resultsOnce(t, dir, job.partitions)
		for _, rec := range journal(t, dir) {
			if rec.Type == jobs.RecordResult && rec.Partition == a.Partition && rec.VM == a.VM {
				t.Errorf("partition %d's result came from the killed worker %s", a.Partition, a.VM)
			}
		}
	})
	s.run(func(t *testing.T, r *runEnv) {
		// One long partition, two attempts, and every worker that runs it
		// dies: the job must fail naming the partition, and leave nothing.
		job := sleepJob{partitions: 1, pool: 1, maxAttempts: 2, sleep: 60 * time.Second}
		spec := job.write(t, r)
		dir := filepath.Join(r.jobsDir, "job")
		p := startJob(t, r, nil, "job", "run", spec, "--dir", dir, "--no-progress")
		for attempt := 1; attempt <= job.maxAttempts; attempt++ {
			a := firstAttempt(t, dir, 0, attempt)
			time.Sleep(300 * time.Millisecond)
			if err := syscall.Kill(qemuOf(t, a.VM), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		res := p.wait(3 * time.Minute)
		last := lastLine(res.stderr)
		s.figure("partition killed on every attempt: job exit %d after %s: %s", res.code, res.took.Round(time.Millisecond), last)
		if res.code == 0 {
			t.Fatalf("the job succeeded although its only partition never finished:\n%s", res.stdout)
		}
		if !strings.Contains(last, "partition 0 failed 2 times") {
			t.Errorf("the error does not name the partition and its attempts: %q", last)
		}
	})
}

func clipErr(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

// TestScenario05GuestHang stops a worker's QEMU (SIGSTOP) mid-partition:
// the guest is there but answers nothing. The agent's liveness check fails
// the attempt within seconds, the partition moves to the other worker, the
// hung VM is destroyed, and nothing waits for ever.
func TestScenario05GuestHang(t *testing.T) {
	// agent.Timeouts.Unresponsive (8 s) plus a heartbeat and slack.
	const detect = 12 * time.Second
	s := newScenario(t, "5 guest hang (SIGSTOP of QEMU)")
	s.run(func(t *testing.T, r *runEnv) {
		job := sleepJob{partitions: 6, pool: 2, maxAttempts: 3, sleep: 3 * time.Second}
		spec := job.write(t, r)
		want := job.native(t, r)
		dir := filepath.Join(r.jobsDir, "job")
		p := startJob(t, r, nil, "-o", "json", "job", "run", spec, "--dir", dir, "--no-progress")
		a := firstAttempt(t, dir, -1, 0)
		time.Sleep(500 * time.Millisecond)
		pid := qemuOf(t, a.VM)
		stopped := time.Now()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		f, took := failedAfter(t, dir, a, stopped, time.Minute)
		res := p.wait(3 * time.Minute)
		s.figure("SIGSTOP of %s's QEMU: attempt failed %s later (%s); job exit %d after %s",
			a.VM, took.Round(time.Millisecond), clipErr(f.Error), res.code, res.took.Round(time.Millisecond))
		if took > detect {
			t.Errorf("the hung guest was noticed after %s, want at most %s", took, detect)
		}
		if !strings.Contains(f.Error, a.VM) {
			t.Errorf("the failure does not name the worker %s: %s", a.VM, f.Error)
		}
		if res.code != 0 {
			t.Fatalf("job exit %d:\n%s", res.code, res.stderr)
		}
		if got := jobValue(t, res.stdout); got != want {
			t.Fatalf("result %v, native %v", got, want)
		}
		resultsOnce(t, dir, job.partitions)
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("the hung worker's QEMU (pid %d) still exists after the job", pid)
		}
	})
}
