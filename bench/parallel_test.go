package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeParallelHost simulates a CPU-bound host: every boot needs bootCPU of
// CPU time, cores CPUs share the boots of a round fairly, and serial is
// time each start spends holding a lock the others wait for (what a
// serialising bug would add). Start blocks until every VM of its round has
// arrived, which proves the starts were concurrent; then the clock jumps
// to when the round's boots finish and all of them return.
type fakeParallelHost struct {
	mu      sync.Mutex
	now     time.Time
	cores   int
	bootCPU time.Duration
	serial  time.Duration
	// failStart fails the start of this VM name.
	failStart string
	// cancel, if set, is called when the first VM of a round with this
	// many VMs arrives.
	cancelAt int
	cancel   context.CancelFunc

	arrived map[string][]string // by round prefix
	release map[string]chan struct{}
	started []string
	removed []string
	live    map[string]bool
	// removeCtxLive records whether each removal's context was live.
	removeCtxLive []bool
}

func newFakeParallelHost() *fakeParallelHost {
	return &fakeParallelHost{
		now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), cores: 2, bootCPU: 3 * time.Second,
		arrived: map[string][]string{}, release: map[string]chan struct{}{}, live: map[string]bool{},
	}
}

func (f *fakeParallelHost) env() ParallelEnv {
	return ParallelEnv{
		VMs:  f,
		Name: func(n, round, i int) string { return fmt.Sprintf("p-%d-%d-%d", n, round, i) },
		Now: func() time.Time {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.now
		},
	}
}

// parseParallelName parses "p-N-R-I" into its round prefix and N.
func parseParallelName(name string) (prefix string, n int) {
	var r, i int
	fmt.Sscanf(name, "p-%d-%d-%d", &n, &r, &i)
	return fmt.Sprintf("p-%d-%d", n, r), n
}

func (f *fakeParallelHost) Start(ctx context.Context, name string) error {
	prefix, n := parseParallelName(name)
	f.mu.Lock()
	f.started = append(f.started, name)
	f.arrived[prefix] = append(f.arrived[prefix], name)
	ch, ok := f.release[prefix]
	if !ok {
		ch = make(chan struct{})
		f.release[prefix] = ch
		if f.cancel != nil && n == f.cancelAt {
			f.cancel()
		}
	}
	if len(f.arrived[prefix]) == n {
		wall := max(time.Duration(float64(n)*float64(f.bootCPU)/float64(f.cores)), f.bootCPU)
		f.now = f.now.Add(wall + time.Duration(n)*f.serial)
		close(ch)
	}
	f.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("fake: %s waited for the rest of its round: starts were not concurrent", name)
	}
	if name == f.failStart {
		return errors.New("fake: boot failed")
	}
	f.mu.Lock()
	f.live[name] = true
	f.mu.Unlock()
	return nil
}

func (f *fakeParallelHost) CPUTime(_ context.Context, name string) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live[name] {
		return 0, fmt.Errorf("fake: %s is not running", name)
	}
	return f.bootCPU, nil
}

func (f *fakeParallelHost) Remove(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, name)
	f.removeCtxLive = append(f.removeCtxLive, ctx.Err() == nil)
	delete(f.live, name)
	return nil
}

func TestCPUBoundLimit(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		single time.Duration
		cores  int
		want   time.Duration
	}{
		{"one boot on two cores", 1, 3 * time.Second, 2, 1500 * time.Millisecond},
		{"eight boots on two cores", 8, 3 * time.Second, 2, 12 * time.Second},
		{"as many boots as cores", 4, 2 * time.Second, 4, 2 * time.Second},
		{"no cores", 8, time.Second, 0, 0},
		{"no boots", 0, time.Second, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CPUBoundLimit(tt.n, tt.single, tt.cores); got != tt.want {
				t.Fatalf("CPUBoundLimit(%d, %s, %d) = %s, want %s", tt.n, tt.single, tt.cores, got, tt.want)
			}
		})
	}
}

func TestSummarizeParallel(t *testing.T) {
	s := time.Second
	rounds := []ParallelRound{
		{Ready: []time.Duration{11 * s, 13 * s}, AllReady: 13 * s, CPU: 7 * s},
		{Ready: []time.Duration{9 * s, 10 * s}, AllReady: 10 * s, CPU: 6 * s},
		{Ready: []time.Duration{12 * s, 14 * s}, AllReady: 14 * s, CPU: 8 * s},
	}
	got := summarizeParallel(2, 2, 3*s, rounds)
	// The median round by all-ready is the first (13 s, 7 s of CPU).
	if got.AllReady != 13*s || got.CPU != 7*s || got.CPUPerBoot != 3500*time.Millisecond {
		t.Errorf("median round: all ready %s, CPU %s, per boot %s", got.AllReady, got.CPU, got.CPUPerBoot)
	}
	if got.ReadyP50 != 11*s {
		t.Errorf("ready p50 over every VM of every round = %s, want 11s", got.ReadyP50)
	}
	if got.CPULimit != 3*s || math.Abs(got.Ratio-13.0/3) > 1e-9 {
		t.Errorf("limit %s ratio %.3f, want 3s and %.3f", got.CPULimit, got.Ratio, 13.0/3)
	}
	if empty := summarizeParallel(4, 2, s, nil); empty.Ratio != 0 || empty.N != 4 {
		t.Errorf("no rounds: %+v", empty)
	}
}

func TestParallelPlanValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ParallelPlan)
		want   []int
		errHas string
	}{
		{"adds the single boot and sorts", func(p *ParallelPlan) { p.Counts = []int{8, 2, 4, 2} }, []int{1, 2, 4, 8}, ""},
		{"no counts", func(p *ParallelPlan) { p.Counts = nil }, nil, "at least one"},
		{"zero", func(p *ParallelPlan) { p.Counts = []int{0, 2} }, nil, "count 0"},
		{"too many", func(p *ParallelPlan) { p.Counts = []int{MaxParallel + 1} }, nil, "VMs at once"},
		{"no rounds", func(p *ParallelPlan) { p.Rounds = 0 }, nil, "rounds"},
		{"no cores", func(p *ParallelPlan) { p.Cores = 0 }, nil, "cores"},
		{"no memory", func(p *ParallelPlan) { p.GuestMiB = 0 }, nil, "guest memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultParallelPlan()
			p.Cores = 2
			tt.mutate(&p)
			err := p.Validate()
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(p.Counts) != fmt.Sprint(tt.want) {
				t.Fatalf("counts %v, want %v", p.Counts, tt.want)
			}
		})
	}
}

func TestParallelAtTheCPULimit(t *testing.T) {
	f := newFakeParallelHost()
	plan := ParallelPlan{Counts: []int{2, 8}, Rounds: 2, Cores: 2, GuestMiB: 256}
	res, err := Parallel(context.Background(), f.env(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.SingleWall != 3*time.Second || res.SingleCPU != 3*time.Second {
		t.Fatalf("single boot: wall %s CPU %s, want 3s and 3s", res.SingleWall, res.SingleCPU)
	}
	want := []struct {
		n        int
		allReady time.Duration
		ratio    float64
	}{
		// One boot cannot use both cores: its own wall time is the floor.
		{1, 3 * time.Second, 2},
		// Two boots fill both cores: 2 × 3 s / 2.
		{2, 3 * time.Second, 1},
		{8, 12 * time.Second, 1},
	}
	if len(res.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(res.Steps), len(want))
	}
	for i, w := range want {
		s := res.Steps[i]
		if s.N != w.n || s.AllReady != w.allReady || math.Abs(s.Ratio-w.ratio) > 1e-9 || len(s.Rounds) != 2 {
			t.Errorf("step %d: N %d all ready %s ratio %.3f rounds %d; want N %d, %s, %.3f, 2", i, s.N, s.AllReady, s.Ratio, len(s.Rounds), w.n, w.allReady, w.ratio)
		}
		if s.CPU != time.Duration(w.n)*3*time.Second || s.CPUPerBoot != 3*time.Second {
			t.Errorf("N=%d: CPU %s per boot %s", w.n, s.CPU, s.CPUPerBoot)
		}
		for _, r := range s.Rounds {
			if len(r.Ready) != w.n {
				t.Errorf("N=%d: %d ready times", w.n, len(r.Ready))
			}
		}
	}
	if res.Step(8) == nil || res.Step(3) != nil {
		t.Error("Step looks up by N")
	}
	// 2 rounds each of 1, 2 and 8 VMs, every one removed.
	if len(f.started) != 22 || len(f.removed) != 22 || len(f.live) != 0 {
		t.Fatalf("started %d, removed %d, still live %v", len(f.started), len(f.removed), f.live)
	}
}

func TestParallelRatioShowsSerialisation(t *testing.T) {
	f := newFakeParallelHost()
	f.serial = 500 * time.Millisecond
	res, err := Parallel(context.Background(), f.env(), ParallelPlan{Counts: []int{8}, Rounds: 1, Cores: 2, GuestMiB: 256})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Step(8)
	// 12 s of CPU-bound boots plus 8 × 0.5 s spent one at a time: the
	// limit comes from CPU time alone, so the lock shows in the ratio.
	if s.AllReady != 16*time.Second || s.CPULimit != 12*time.Second || math.Abs(s.Ratio-16.0/12) > 1e-9 {
		t.Fatalf("all ready %s limit %s ratio %.3f", s.AllReady, s.CPULimit, s.Ratio)
	}
}

func TestParallelFailedStartRemovesTheRound(t *testing.T) {
	f := newFakeParallelHost()
	f.failStart = "p-4-1-3"
	res, err := Parallel(context.Background(), f.env(), ParallelPlan{Counts: []int{4}, Rounds: 1, Cores: 2, GuestMiB: 256})
	if err == nil || !strings.Contains(err.Error(), "p-4-1-3") || !strings.Contains(err.Error(), "4 at once") {
		t.Fatalf("err = %v, want the failed VM and its count named", err)
	}
	if res == nil || len(res.Steps) != 1 || res.Steps[0].N != 1 {
		t.Fatalf("the steps before the failure are kept: %+v", res)
	}
	if len(f.removed) != 5 || len(f.live) != 0 {
		t.Fatalf("removed %v, live %v: every VM of the failed round must go", f.removed, f.live)
	}
}

func TestParallelCancelStillRemoves(t *testing.T) {
	f := newFakeParallelHost()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.cancel, f.cancelAt = cancel, 2
	_, err := Parallel(ctx, f.env(), ParallelPlan{Counts: []int{2, 4}, Rounds: 1, Cores: 2, GuestMiB: 256})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(f.live) != 0 {
		t.Fatalf("VMs left: %v", f.live)
	}
	for i, live := range f.removeCtxLive {
		if !live {
			t.Fatalf("removal %d (%s) ran on a cancelled context", i, f.removed[i])
		}
	}
	for _, name := range f.started {
		if strings.HasPrefix(name, "p-4-") {
			t.Fatalf("started %s after the cancellation", name)
		}
	}
}

func TestParallelRefusesWhatMemoryCannotHold(t *testing.T) {
	f := newFakeParallelHost()
	env := f.env()
	env.MemAvailable = func() (uint64, error) { return 4 << 30, nil }
	// 16 × (256 + 96) MiB = 5.5 GiB > 4 GiB available.
	_, err := Parallel(context.Background(), env, ParallelPlan{Counts: []int{16}, Rounds: 1, Cores: 2, GuestMiB: 256, ReserveMiB: 512})
	if err == nil || !strings.Contains(err.Error(), "16 VMs at once") {
		t.Fatalf("err = %v, want a refusal naming the count", err)
	}
	if len(f.started) != 0 {
		t.Fatalf("started %v before refusing", f.started)
	}
}

// TestParallelCountsDaemonCPU: what libvirtd spends on each boot is part of
// the boot's CPU, in the single-boot reference and in every round.
func TestParallelCountsDaemonCPU(t *testing.T) {
	f := newFakeParallelHost()
	env := f.env()
	const perBoot = 500 * time.Millisecond
	var reads int
	env.DaemonCPU = func() (time.Duration, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		reads++
		// The daemons' clock advances with the boots started so far.
		return time.Duration(len(f.started)) * perBoot, nil
	}
	res, err := Parallel(context.Background(), env, ParallelPlan{Counts: []int{4}, Rounds: 1, Cores: 2, GuestMiB: 256})
	if err != nil {
		t.Fatal(err)
	}
	if reads != 4 {
		t.Errorf("daemon CPU read %d times, want before and after each of 2 rounds", reads)
	}
	if res.SingleCPU != 3*time.Second+perBoot {
		t.Errorf("single boot CPU %s, want QEMU 3s + daemons 0.5s", res.SingleCPU)
	}
	four := res.Step(4)
	if four.QEMUCPU != 12*time.Second || four.DaemonCPU != 4*perBoot || four.CPU != 14*time.Second {
		t.Errorf("N=4: QEMU %s daemons %s total %s, want 12s, 2s, 14s", four.QEMUCPU, four.DaemonCPU, four.CPU)
	}
	if want := CPUBoundLimit(4, 3*time.Second+perBoot, 2); four.CPULimit != want {
		t.Errorf("N=4 limit %s, want %s", four.CPULimit, want)
	}
}
