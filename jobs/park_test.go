package jobs

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// pausable lets host-process workers be "paused" (they are only kept
// aside: a warm worker gets no partitions), so the warm pool's bookkeeping
// can be tested without VMs.
type pausable struct {
	Provider
	mu      sync.Mutex
	started []string
	paused  []string
	resumed []string
}

func (p *pausable) Start(ctx context.Context, name string) (*Worker, error) {
	p.mu.Lock()
	p.started = append(p.started, name)
	p.mu.Unlock()
	return p.Provider.Start(ctx, name)
}

func (p *pausable) Pause(_ context.Context, w *Worker) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = append(p.paused, w.Name)
	return nil
}

func (p *pausable) Resume(_ context.Context, w *Worker) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resumed = append(p.resumed, w.Name)
	return nil
}

// Between waves the pool drains to zero. A drained worker is paused into
// the warm pool when a wave has used the warm worker, and a later wave
// resumes it: one warm boot in all (the initial fill), none while a wave's
// work runs. (Three waves: the first may start before the initial warm
// worker is ready.)
func TestDrainedWorkerRefillsTheWarmPool(t *testing.T) {
	body := `name: t
pool:
  autoscale: {min: 0, max: 2, warm: 1, sync: 100ms, cooldown_out: 100ms, scale_down_window: 300ms, idle_timeout: 300ms, ceiling: {enabled: false}}
workload:
  exec: ["sh", "-c", "sleep 0.3; echo $VMCTL_PARTITION"]
partition: {count: 12}
reduce: sum
timeout: 30s
`
	s := mustParse(t, body)
	dir := t.TempDir()
	prov := &pausable{Provider: &NativeProvider{Spec: s, WorkDir: dir + "/native-work"}}
	r := &Runner{Spec: s, Dir: dir, Provider: prov, Log: quietLog(), Arrivals: Arrivals{Waves: 3, Every: 2 * time.Second}}
	sum, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Result.Value != 66 {
		t.Fatalf("sum %v, want 66", sum.Result.Value)
	}
	prov.mu.Lock()
	defer prov.mu.Unlock()
	var warmBoots []string
	for _, n := range prov.started {
		if strings.Contains(n, "-w") {
			warmBoots = append(warmBoots, n)
		}
	}
	if len(warmBoots) != 1 {
		t.Errorf("warm boots %v, want exactly the initial one (a drained worker refills the pool)", warmBoots)
	}
	parked := false
	for _, n := range prov.paused {
		if !strings.Contains(n, "-w") {
			parked = true
		}
	}
	if !parked {
		t.Errorf("no drained worker was paused into the warm pool: paused %v", prov.paused)
	}
	if len(prov.resumed) < 2 {
		t.Errorf("resumed %v: each wave should start from the warm pool", prov.resumed)
	}
	if sum.PausedSeconds <= 0 {
		t.Errorf("paused seconds %.2f, want > 0", sum.PausedSeconds)
	}
}
