//go:build integration

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/guestimage"
	"github.com/vmctl/vmctl/jobs"
	"github.com/vmctl/vmctl/scheduler"
)

// A remote worker's agent channel is a libvirt stream on the same
// connection as every other call to that host. With blocking streams a
// waiting Recv held the connection's I/O and a Send from another thread
// waited for the event loop's next keepalive tick (5 s). This runs a job
// whose only worker is on the second host while the same process keeps
// calling libvirt on that connection, and checks both go on.
func TestRemoteWorkerRunsWhileLibvirtCallsGoOn(t *testing.T) {
	uri2 := startTestHost(t, "it4", 4)
	ctx := context.Background()
	state := t.TempDir()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	fleet := scheduler.OpenFleet(ctx, []scheduler.HostSpec{{Name: "h2", URI: uri2, Limits: scheduler.Limits{MemoryMiB: ptr(2048)}}}, backendOpener(log),
		hypervisor.Config{StateDir: state, MemoryReserveMiB: hypervisor.DefaultMemoryReserveMiB}, hypervisor.WithLogger(log))
	t.Cleanup(fleet.Close)
	member := fleet.Member("h2")
	if member.Err != nil {
		t.Fatalf("open %s: %v", uri2, member.Err)
	}
	im, err := guestimage.Load(imageDir)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := scheduler.NewClaimStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spec, err := jobs.Load(testdataJob("primes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// 12 short partitions on one worker: many exec round trips and
	// result frames over the stream.
	spec.Pool.Size, spec.Partition.Count = 1, 12
	spec.Workload.Args["to"] = "3000000"
	dir := filepath.Join(t.TempDir(), "job")
	r := &jobs.Runner{Spec: spec, Dir: dir, Log: log,
		Provider: &jobs.VMProvider{Spec: spec, JobID: jobs.JobID(dir), Fleet: fleet, Claims: claims, Policy: scheduler.DefaultPolicy(), Image: bootImage(im)}}

	// The other calls: list and host info on the same backend, every
	// 50 ms, for as long as the job runs.
	var (
		mu        sync.Mutex
		calls     int
		worst     time.Duration
		callErr   error
		stop      = make(chan struct{})
		callersWG sync.WaitGroup
	)
	callersWG.Add(1)
	go func() {
		defer callersWG.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			t0 := time.Now()
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			_, err := member.Backend.List(cctx)
			if err == nil {
				_, err = member.Backend.Host(cctx)
			}
			cancel()
			d := time.Since(t0)
			mu.Lock()
			calls++
			worst = max(worst, d)
			if err != nil && callErr == nil {
				callErr = err
			}
			mu.Unlock()
		}
	}()
	start := time.Now()
	sum, err := r.Run(ctx)
	close(stop)
	callersWG.Wait()
	if err != nil {
		t.Fatalf("job: %v", err)
	}
	// primes below 3,000,000.
	if got := sum.Result.Value; got != 216816 {
		t.Fatalf("result %v, want 216816", got)
	}
	for _, row := range sum.Rows {
		if row.Host != "h2" {
			t.Fatalf("partition %d ran on %q, want the remote host h2", row.Index, row.Host)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("job took %v; %d list+host calls alongside it, slowest %v", time.Since(start).Round(time.Millisecond), calls, worst.Round(time.Millisecond))
	if callErr != nil {
		t.Fatalf("a libvirt call during the job failed: %v", callErr)
	}
	if calls < 10 {
		t.Fatalf("only %d libvirt calls ran during the job", calls)
	}
	if worst > 3*time.Second {
		t.Fatalf("slowest list+host call took %v while the worker's stream was open: calls are stalled", worst)
	}

	// New processes, one after another, each opening the channel stream
	// of the same remote VM: the next one's handshake must not wait for
	// the last one's stream.
	hosts := writeHostsFile(t, fmt.Sprintf("hosts:\n  - name: h2\n    uri: %s\n    memory_mib: 2048\n", uri2))
	name := vmName(t, "remote-exec")
	t.Cleanup(func() { vmctl(t, state, "--hosts", hosts, "vm", "rm", name) })
	mustVMCTL(t, state, "--hosts", hosts, "vm", "create", name, "--memory", "256")
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		out := mustVMCTL(t, state, "--hosts", hosts, "vm", "exec", name, "--", "echo", fmt.Sprint(i))
		if got := out.stdout; got != fmt.Sprintf("%d\n", i) {
			t.Fatalf("exec %d printed %q", i, got)
		}
		if d := time.Since(t0); d > 4*time.Second {
			t.Fatalf("exec %d in a new process took %v: its handshake waited", i, d)
		}
	}
	mustVMCTL(t, state, "--hosts", hosts, "vm", "rm", name)
}

func ptr[T any](v T) *T { return &v }
