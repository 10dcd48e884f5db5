//go:build faults

package faults

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmctl/vmctl/scheduler"
)

// Scenario 11's shape.
const (
	parallelVMs = 50
	maxWave     = 10
	// waveRoomWait bounds the wait for room when other users' VMs fill
	// the host.
	waveRoomWait = 3 * time.Minute
)

// TestScenario11ParallelLifecycles runs 50 create/exec/rm lifecycles,
// each a chain of vmctl processes, in waves as large as the admission
// limits let through at once (at most 10).
func TestScenario11ParallelLifecycles(t *testing.T) {
	s := newScenario(t, "11 50 parallel create/exec/rm in waves")
	s.run(func(t *testing.T, r *runEnv) {
		var waves []string
		began := time.Now()
		for done := 0; done < parallelVMs; {
			n := r.waitForRoom(min(maxWave, parallelVMs-done))
			names := make([]string, n)
			for i := range names {
				names[i] = r.name(fmt.Sprintf("%02d", done+i))
			}
			r.removeAtEnd(names...)
			w0 := time.Now()
			errs := make([]error, n)
			refused := make([]int, n)
			var wg sync.WaitGroup
			for i, name := range names {
				wg.Add(1)
				go func() {
					defer wg.Done()
					refused[i], errs[i] = r.lifecycle(name)
				}()
			}
			wg.Wait()
			wave := fmt.Sprintf("%d VMs %s", n, time.Since(w0).Round(100*time.Millisecond))
			if k := sum(refused); k > 0 {
				wave += fmt.Sprintf(" (%d creates refused for room, retried)", k)
			}
			waves = append(waves, wave)
			for _, err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if t.Failed() {
				t.FailNow()
			}
			done += n
		}
		s.figure("%d lifecycles in %d waves, %s: %s", parallelVMs, len(waves), time.Since(began).Round(100*time.Millisecond), strings.Join(waves, ", "))
	})
}

// lifecycle is one VM's create, exec (its name echoed back) and rm, each
// a vmctl process that must exit 0. A create the scheduler refuses for
// want of room (other users' VMs came in since the wave was sized) waits
// and tries again, up to waveRoomWait; it reports how many times. Safe in
// any goroutine.
func (r *runEnv) lifecycle(name string) (refused int, err error) {
	deadline := time.Now().Add(waveRoomWait)
	for _, step := range [][]string{
		{"vm", "create", name, "--memory", "128", "--vcpus", "1"},
		{"vm", "exec", name, "--", "echo", name},
		{"vm", "rm", name},
	} {
		res, err := runCmd(r.command(step...), nil)
		for err == nil && step[1] == "create" && res.code != 0 &&
			strings.Contains(res.stderr, scheduler.ErrNoValidHost.Error()) && time.Now().Before(deadline) {
			refused++
			time.Sleep(time.Second)
			res, err = runCmd(r.command(step...), nil)
		}
		if err != nil {
			return refused, err
		}
		if res.code != 0 {
			return refused, fmt.Errorf("vmctl %s: exit %d: %s", strings.Join(step, " "), res.code, res.stderr)
		}
		if step[1] == "exec" && res.stdout != name+"\n" {
			return refused, fmt.Errorf("vm exec %s -- echo %s: stdout %q", name, name, res.stdout)
		}
	}
	return refused, nil
}

// waitForRoom returns how many of want 1-vCPU 128 MiB VMs the scheduler
// would admit on this host now (at least 1), asking it with the default
// policy and the host's inventory (other users' VMs included). It waits
// while there is no room at all.
func (r *runEnv) waitForRoom(want int) int {
	r.t.Helper()
	deadline := time.Now().Add(waveRoomWait)
	for {
		res := r.mustVMCTL("-o", "json", "hosts")
		var hosts []scheduler.Host
		if err := json.Unmarshal([]byte(res.stdout), &hosts); err != nil {
			r.t.Fatalf("hosts: %v\n%s", err, res.stdout)
		}
		n := 0
		for ; n < want; n++ {
			pl, err := scheduler.Place(hosts, scheduler.Request{Name: "room", VCPUs: 1, MemoryMiB: 128}, scheduler.DefaultPolicy())
			if err != nil {
				break
			}
			for i := range hosts {
				if hosts[i].Name == pl.Host.Name {
					hosts[i].VMs = append(hosts[i].VMs, scheduler.VM{Name: fmt.Sprint("room", n), VCPUs: 1, MemoryMiB: 128})
				}
			}
		}
		if n > 0 {
			return n
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no room for one VM on the host for %s: other users' VMs fill it", waveRoomWait)
		}
		time.Sleep(2 * time.Second)
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}
