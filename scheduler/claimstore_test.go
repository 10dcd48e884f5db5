package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// smallHost is the claim tests' one host: 1024 MiB for guests, nothing
// reserved, so exactly four 256 MiB VMs fit.
func smallHost(vms ...VM) Host {
	h := oneCellHost("h1", 64, 1024, vms...)
	h.URI = "test:///h1"
	h.Limits.ReserveMiB = ptr(0)
	return h
}

// staticInventory always reports the same hosts, as libvirt would while
// no create has finished.
func staticInventory(hosts ...Host) func(context.Context) ([]Host, error) {
	return func(context.Context) ([]Host, error) {
		out := make([]Host, len(hosts))
		copy(out, hosts)
		return out, nil
	}
}

func newTestStore(t *testing.T, dir string, opts ...ClaimOption) *ClaimStore {
	t.Helper()
	s, err := NewClaimStore(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claimFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+claimSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func vmReq(name string, memMiB int) Request {
	return Request{Name: name, VCPUs: 1, MemoryMiB: memMiB}
}

func TestNewClaimStoreCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "claims")
	s := newTestStore(t, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 || s.Dir() != dir {
		t.Fatalf("mode %v dir %s", fi.Mode().Perm(), s.Dir())
	}
	if _, err := NewClaimStore(dir, WithClaimTTL(0)); err == nil {
		t.Fatal("a zero TTL was accepted")
	}
}

// TestReserveConcurrentGoroutines: ten Reserve calls at once, each with its
// own store as separate commands would have, each holding its claim as a
// slow create would. The host fits four.
func TestReserveConcurrentGoroutines(t *testing.T) {
	dir := t.TempDir()
	inv := staticInventory(smallHost())
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		results  = make([]error, 10)
		releases = make([]func() error, 10)
	)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := NewClaimStore(dir)
			if err != nil {
				results[i] = err
				return
			}
			<-start
			_, releases[i], results[i] = s.Reserve(context.Background(), inv, vmReq(fmt.Sprintf("vm%d", i), 256), DefaultPolicy())
		}(i)
	}
	close(start)
	wg.Wait()
	ok, full := 0, 0
	for i, err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrNoValidHost):
			full++
		default:
			t.Errorf("vm%d: %v", i, err)
		}
	}
	if ok != 4 || full != 6 {
		t.Fatalf("%d reserved, %d refused; want 4 and 6", ok, full)
	}
	if n := len(claimFiles(t, dir)); n != 4 {
		t.Fatalf("%d claim files, want 4", n)
	}
	for _, rel := range releases {
		if rel != nil {
			if err := rel(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(claimFiles(t, dir)); n != 0 {
		t.Fatalf("%d claim files left after release", n)
	}
}

func TestReleaseRemovesTheClaim(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	inv := staticInventory(smallHost())
	pl, release, err := s.Reserve(context.Background(), inv, vmReq("a", 1024), DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if pl.Host.Name != "h1" {
		t.Fatalf("placed on %q", pl.Host.Name)
	}
	files := claimFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("claim files %v", files)
	}
	var c claim
	data, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if c.VM != "a" || c.Host != "h1" || c.URI != "test:///h1" || c.MemoryMiB != 1024 || c.PID != os.Getpid() || c.PIDStart == 0 {
		t.Fatalf("claim %+v", c)
	}
	if _, _, err := s.Reserve(context.Background(), inv, vmReq("b", 1), DefaultPolicy()); !errors.Is(err, ErrNoValidHost) {
		t.Fatalf("the host is claimed full, yet: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := release(); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if n := len(claimFiles(t, dir)); n != 0 {
		t.Fatalf("%d claim files after release", n)
	}
	_, release, err = s.Reserve(context.Background(), inv, vmReq("b", 1024), DefaultPolicy())
	if err != nil {
		t.Fatalf("released memory not reusable: %v", err)
	}
	release()
}

func TestClaimStopsCountingOnceTheVMIsInTheInventory(t *testing.T) {
	s := newTestStore(t, t.TempDir())
	_, release, err := s.Reserve(context.Background(), staticInventory(smallHost()), vmReq("a", 512), DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	// The create finished but the caller has not released yet: counting
	// both the VM and its claim would leave 0 MiB.
	created := staticInventory(smallHost(VM{Name: "a", VCPUs: 1, MemoryMiB: 512}))
	_, rel2, err := s.Reserve(context.Background(), created, vmReq("b", 512), DefaultPolicy())
	if err != nil {
		t.Fatalf("claim counted on top of its own VM: %v", err)
	}
	rel2()
}

func TestReserveNames(t *testing.T) {
	two := staticInventory(smallHost(), func() Host { h := oneCellHost("h2", 64, 1024); h.URI = "test:///h2"; return h }())
	tests := []struct {
		name    string
		inv     func(context.Context) ([]Host, error)
		first   string // reserved and held before
		req     Request
		wantErr error
		want    string
	}{
		{name: "same name claimed", inv: two, first: "web", req: vmReq("web", 64), wantErr: ErrNameClaimed, want: "vm web: vm name already claimed on host h1 by pid"},
		{name: "different names", inv: two, first: "web", req: vmReq("db", 64)},
		{name: "name already on a host", inv: staticInventory(smallHost(VM{Name: "web", MemoryMiB: 1})), req: vmReq("web", 64), wantErr: ErrNameExists, want: "vm web: vm name already exists on host h1"},
		{name: "no name", inv: two, req: vmReq("", 64), wantErr: ErrInvalidRequest, want: "needs the VM's name"},
		{name: "bad request", inv: two, req: vmReq("x", 0), wantErr: ErrInvalidRequest, want: "memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newTestStore(t, dir)
			if tt.first != "" {
				_, rel, err := s.Reserve(context.Background(), tt.inv, vmReq(tt.first, 64), DefaultPolicy())
				if err != nil {
					t.Fatal(err)
				}
				defer rel()
			}
			before := len(claimFiles(t, dir))
			_, rel, err := s.Reserve(context.Background(), tt.inv, tt.req, DefaultPolicy())
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				rel()
				return
			}
			if !errors.Is(err, tt.wantErr) || rel != nil {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			wantContains(t, err.Error(), tt.want)
			if n := len(claimFiles(t, dir)); n != before {
				t.Fatalf("a failed Reserve left a claim (%d files, had %d)", n, before)
			}
		})
	}
}

func TestReservePlacementOnNoValidHost(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	pl, rel, err := s.Reserve(context.Background(), staticInventory(smallHost()), vmReq("big", 2048), DefaultPolicy())
	if !errors.Is(err, ErrNoValidHost) || rel != nil {
		t.Fatalf("err = %v", err)
	}
	if pl == nil || len(pl.Verdicts) != 1 || pl.Verdicts[0].Filter != FilterMemory {
		t.Fatalf("placement %+v: the verdicts must come back with the error", pl)
	}
	if n := len(claimFiles(t, dir)); n != 0 {
		t.Fatalf("%d claims after a failure", n)
	}
}

func TestReserveInventoryError(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	boom := errors.New("libvirt went away")
	_, rel, err := s.Reserve(context.Background(), func(context.Context) ([]Host, error) { return nil, boom }, vmReq("a", 1), DefaultPolicy())
	if !errors.Is(err, boom) || rel != nil {
		t.Fatalf("err = %v", err)
	}
	if n := len(claimFiles(t, dir)); n != 0 {
		t.Fatalf("%d claims after a failure", n)
	}
}

func TestReservePinnedClaimsKeepCPUsApart(t *testing.T) {
	s := newTestStore(t, t.TempDir())
	inv := staticInventory(twoCellHost("h"))
	given := map[int]bool{}
	for i := 0; i < 4; i++ {
		pl, rel, err := s.Reserve(context.Background(), inv, Request{Name: fmt.Sprint("p", i), VCPUs: 2, MemoryMiB: 1024, Pin: true}, DefaultPolicy())
		if err != nil {
			t.Fatalf("p%d: %v", i, err)
		}
		defer rel()
		for _, cpu := range pl.Pinning.VCPUs {
			if given[cpu] {
				t.Fatalf("p%d: CPU %d given twice (%v)", i, cpu, pl.Pinning)
			}
			given[cpu] = true
		}
	}
	_, _, err := s.Reserve(context.Background(), inv, Request{Name: "p4", VCPUs: 1, MemoryMiB: 1, Pin: true}, DefaultPolicy())
	if !errors.Is(err, ErrNoValidHost) {
		t.Fatalf("fifth pinned VM on a fully claimed host: %v", err)
	}
}

func TestReserveCancelWhileWaitingForTheLock(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir, WithLockPoll(5*time.Millisecond))
	unlock, err := lockFile(context.Background(), filepath.Join(dir, lockName), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{name: "cancelled", want: context.Canceled, ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}},
		{name: "deadline", want: context.DeadlineExceeded, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}},
		{name: "already done", want: context.Canceled, ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			called := false
			inv := func(context.Context) ([]Host, error) { called = true; return []Host{smallHost()}, nil }
			begin := time.Now()
			_, rel, err := s.Reserve(ctx, inv, vmReq("a", 1), DefaultPolicy())
			if !errors.Is(err, tt.want) || rel != nil {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if called {
				t.Fatal("inventory ran without the lock")
			}
			if d := time.Since(begin); d > 5*time.Second {
				t.Fatalf("took %v to notice", d)
			}
		})
	}
	// Once the holder lets go, Reserve proceeds.
	unlock()
	_, rel, err := s.Reserve(context.Background(), staticInventory(smallHost()), vmReq("a", 1), DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	rel()
}
