//go:build faults

package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/libvirtbackend"
)

// Scenario 9's bounds.
const (
	// maxBootFailure is how long create may take to report a guest that
	// panics at once: seconds, not the 120 s agent-ready timeout.
	maxBootFailure = 30 * time.Second
	// maxJobBootAttempts bounds the domains a job may create for a pool
	// of neverBootPool VMs whose image cannot boot: each position tries
	// three boots (jobs' maxBootFailures), backing off between them, then
	// gives up.
	neverBootPool      = 2
	maxJobBootAttempts = 3 * neverBootPool
	// minBackoff is the least a position waits over its three boots (1 s
	// then 2 s, less 20% jitter): a pool that retried at once would not.
	minBackoff    = 2400 * time.Millisecond
	maxJobFailure = 3 * time.Minute
)

// panicLines are what the kernel prints when init exits.
var panicLines = []string{"Kernel panic", "Attempted to kill init"}

// TestScenario09NeverBoots uses an image whose /init exits at once, so
// the kernel panics (panic=-1 with on_reboot=destroy stops the domain).
func TestScenario09NeverBoots(t *testing.T) {
	s := newScenario(t, "9 never-booting image: create and a job fail fast, no leak")
	img := hostileImage(t, "exit")
	s.run(func(t *testing.T, r *runEnv) {
		name := r.name("panic")
		r.removeAtEnd(name)
		res := r.withImage(img).vmctl("vm", "create", name, "--memory", "128")
		s.figure("vm create: exit %d after %s; %s", res.code, res.took.Round(time.Millisecond), errorLine(res.stderr))
		if res.code == 0 {
			t.Fatalf("create of a guest whose init exits succeeded:\n%s", res.stdout)
		}
		if res.took > maxBootFailure {
			t.Errorf("create took %s to fail, want under %s", res.took, maxBootFailure)
		}
		if !containsAny(res.stderr, panicLines) {
			t.Errorf("create's error has no console tail naming the panic (%q):\n%s", panicLines, res.stderr)
		}

		// A job on that image: its pool must fail, bounded, and say why.
		spec := filepath.Join(r.tmp, "job.yaml")
		body := fmt.Sprintf(`name: %s
vm: {memory_mib: 128, image: %s}
pool: {size: %d}
workload: {exec: ["true"]}
partition: {count: 4}
max_attempts: 2
timeout: 1m
`, r.prefix, img, neverBootPool)
		if err := os.WriteFile(spec, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(r.jobsDir, "job")
		seen := watchDomains(t, r)
		job := r.vmctl("job", "run", spec, "--dir", dir, "--no-progress")
		domains := seen()
		// The job logs each worker that failed to start; the last one is
		// in the error it ends with.
		failedStarts := strings.Count(job.stderr, "worker did not start") + 1
		s.figure("job run: exit %d after %s; %d domains seen, %d failed worker starts logged, for a pool of %d; %s",
			job.code, job.took.Round(time.Millisecond), len(domains), failedStarts, neverBootPool, errorLine(job.stderr))
		if job.code == 0 {
			t.Fatalf("a job whose VMs cannot boot succeeded:\n%s", job.stdout)
		}
		if job.took > maxJobFailure {
			t.Errorf("the job took %s to fail, want under %s", job.took, maxJobFailure)
		}
		if !containsAny(job.stderr, append([]string{hypervisor.ErrGuestStopped.Error()}, panicLines...)) {
			t.Errorf("the job's error does not name the boot failure:\n%s", job.stderr)
		}
		if len(domains) == 0 {
			t.Error("no domain of the job was seen: the watch saw nothing, or the job never tried to boot")
		}
		if attempts := max(len(domains), failedStarts); attempts > maxJobBootAttempts {
			t.Errorf("%d boot attempts for a pool of %d, want at most %d: the pool does not back off", attempts, neverBootPool, maxJobBootAttempts)
		}
	})
}

// errorLine is vmctl's own error line of a failed run ("vmctl: ..."),
// else the last line.
func errorLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "vmctl: ") {
			return l
		}
	}
	return lastLine(stderr)
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// watchDomains lists the host's domains every 50 ms until the returned
// function is called, which returns the names of the run's domains seen.
// A domain that panics lives for about a second, defined then destroyed
// and undefined: long enough to be seen.
func watchDomains(t *testing.T, r *runEnv) func() []string {
	t.Helper()
	b, err := libvirtbackend.Open(context.Background(), "qemu:///system")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			vms, _ := b.List(ctx)
			mu.Lock()
			for _, v := range vms {
				if r.ours(v.Name) {
					seen[v.Name] = true
				}
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() []string {
		cancel()
		wg.Wait()
		b.Close()
		mu.Lock()
		defer mu.Unlock()
		names := make([]string, 0, len(seen))
		for n := range seen {
			names = append(names, n)
		}
		return names
	}
}
