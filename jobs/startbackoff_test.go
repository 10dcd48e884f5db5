package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/scheduler"
)

// failingStarts fails Start as told and counts the calls.
type failingStarts struct {
	Provider
	mu    sync.Mutex
	calls []time.Time
	// fail returns the error of call n (0-based), nil to start for real.
	fail func(n int) error
}

func (f *failingStarts) Start(ctx context.Context, name string) (*Worker, error) {
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, time.Now())
	f.mu.Unlock()
	if err := f.fail(n); err != nil {
		return nil, err
	}
	return f.Provider.Start(ctx, name)
}

func (f *failingStarts) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

var errGuestDied = fmt.Errorf("create w: wait for agent: %w", hypervisor.ErrGuestStopped)

func TestAPoolBacksOffBetweenFailedBoots(t *testing.T) {
	s := execSpec(t, `echo 1`, 4, 1, 1, 1)
	fs := &failingStarts{fail: func(int) error { return errGuestDied }}
	start := time.Now()
	_, err := runNative(t, s, t.TempDir(), func(p Provider) Provider { fs.Provider = p; return fs })
	if !errors.Is(err, ErrNoWorkers) || !errors.Is(err, hypervisor.ErrGuestStopped) {
		t.Fatalf("err = %v, want ErrNoWorkers naming the boot failure", err)
	}
	if n := fs.count(); n != maxBootFailures {
		t.Fatalf("%d boot attempts for one position, want %d", n, maxBootFailures)
	}
	// Two waits between three attempts: about 1 s and 2 s, each ±20%.
	gaps := []time.Duration{fs.calls[1].Sub(fs.calls[0]), fs.calls[2].Sub(fs.calls[1])}
	if gaps[0] < 800*time.Millisecond || gaps[1] < 1600*time.Millisecond || gaps[1] <= gaps[0] {
		t.Fatalf("waits between boots %v: want about 1 s then 2 s (exponential backoff)", gaps)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the job took %v to give up", took)
	}
}

func TestNoRoomIsAWaitNotABootFailure(t *testing.T) {
	s := execSpec(t, `echo 1`, 2, 1, 1, 1)
	noRoom := fmt.Errorf("place w: %w", scheduler.ErrNoValidHost)
	// More refusals than maxBootFailures: they must not count as failures.
	fs := &failingStarts{fail: func(n int) error {
		if n < maxBootFailures+1 {
			return noRoom
		}
		return nil
	}}
	sum, err := runNative(t, s, t.TempDir(), func(p Provider) Provider { fs.Provider = p; return fs })
	if err != nil {
		t.Fatalf("a job whose worker waited for room failed: %v", err)
	}
	if sum.Result.Value != 2 || fs.count() != maxBootFailures+2 {
		t.Fatalf("result %v after %d starts, want 2 after %d", sum.Result.Value, fs.count(), maxBootFailures+2)
	}
}

func TestFailedBootsHoldScaleOut(t *testing.T) {
	body := `name: t
pool:
  autoscale: {min: 1, max: 4, sync: 200ms, cooldown_out: 200ms, ceiling: {enabled: false}}
workload:
  exec: ["sh", "-c", "sleep 0.2; echo 1"]
partition: {count: 40}
reduce: sum
timeout: 30s
`
	s := mustParse(t, body)
	// The first start works, every later one fails: the backlog keeps
	// asking for more VMs, and failed boots must hold the growth.
	fs := &failingStarts{fail: func(n int) error {
		if n == 0 {
			return nil
		}
		return errGuestDied
	}}
	sum, err := runNative(t, s, t.TempDir(), func(p Provider) Provider { fs.Provider = p; return fs })
	if err != nil {
		t.Fatalf("job: %v", err)
	}
	if sum.Result.Value != 40 {
		t.Fatalf("result %v", sum.Result.Value)
	}
	// Without the hold, every 200 ms tick would add up to 3 members and
	// each would try 3 boots: dozens of starts over the job's ~8 s.
	if n := fs.count(); n > 12 {
		t.Fatalf("%d starts while boots kept failing: scale-out was not held", n)
	}
	t.Logf("%d starts over the job", fs.count())
}
