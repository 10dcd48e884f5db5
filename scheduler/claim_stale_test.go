package scheduler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmctl/vmctl/internal/procid"
)

func TestReserveDropsStaleClaims(t *testing.T) {
	self := os.Getpid()
	selfStart, err := procid.Start(self)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		pid   int
		start uint64
		age   time.Duration
		stale bool
	}{
		{name: "dead process", pid: exitedPID(t), start: 12345, stale: true},
		{name: "reused pid: same pid, other start time", pid: self, start: selfStart + 1, stale: true},
		{name: "older than the TTL", pid: self, start: selfStart, age: 11 * time.Minute, stale: true},
		{name: "live and young", pid: self, start: selfStart, age: 9 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			old := claim{Version: claimVersion, Host: "h1", URI: "test:///h1", VM: "ghost", VCPUs: 1, MemoryMiB: 1024, PID: tt.pid, PIDStart: tt.start, Created: t0}
			path, err := writeClaim(dir, old)
			if err != nil {
				t.Fatal(err)
			}
			s := newTestStore(t, dir, WithClock(func() time.Time { return t0.Add(tt.age) }))
			_, rel, err := s.Reserve(context.Background(), staticInventory(smallHost()), vmReq("new", 1024), DefaultPolicy())
			_, statErr := os.Stat(path)
			if tt.stale {
				if err != nil {
					t.Fatalf("stale claim still counted: %v", err)
				}
				rel()
				if !errors.Is(statErr, os.ErrNotExist) {
					t.Fatalf("stale claim file not removed: %v", statErr)
				}
				return
			}
			if !errors.Is(err, ErrNoValidHost) {
				t.Fatalf("live claim ignored: %v", err)
			}
			if statErr != nil {
				t.Fatalf("live claim file removed: %v", statErr)
			}
		})
	}
}

func TestReserveRemovesJunk(t *testing.T) {
	dir := t.TempDir()
	junk := []string{".1-2-abc.claim.tmp", "broken.claim"}
	for _, j := range junk {
		if err := os.WriteFile(filepath.Join(dir, j), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(dir, "README")
	if err := os.WriteFile(keep, []byte("not a claim"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, dir)
	_, rel, err := s.Reserve(context.Background(), staticInventory(smallHost()), vmReq("a", 1024), DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	rel()
	for _, j := range junk {
		if _, err := os.Stat(filepath.Join(dir, j)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed: %v", j, err)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("unrelated file removed: %v", err)
	}
}

func TestReserveLivenessIsInjectable(t *testing.T) {
	dir := t.TempDir()
	var asked atomic.Int32
	dead := WithLiveness(func(pid int, start uint64) bool { asked.Add(1); return false })
	holder := newTestStore(t, dir)
	_, rel, err := holder.Reserve(context.Background(), staticInventory(smallHost()), vmReq("a", 1024), DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	defer rel()
	s := newTestStore(t, dir, dead)
	_, rel2, err := s.Reserve(context.Background(), staticInventory(smallHost()), vmReq("b", 1024), DefaultPolicy())
	if err != nil || asked.Load() == 0 {
		t.Fatalf("err %v, liveness asked %d times", err, asked.Load())
	}
	rel2()
}

func TestStaleClaims(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	dir := t.TempDir()
	dead := map[int]bool{101: true}
	alive := func(pid int, start uint64) bool { return !dead[pid] }
	write := func(vm string, pid int, age time.Duration) string {
		t.Helper()
		p, err := writeClaim(dir, claim{Version: claimVersion, Host: "h1", URI: "test:///h1", VM: vm, VCPUs: 1, MemoryMiB: 256, PID: pid, PIDStart: 1, Created: t0.Add(-age)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	deadPath := write("ghost", 101, time.Minute)
	livePath := write("busy", 202, time.Hour) // older than the TTL, but its process runs
	junk := filepath.Join(dir, ".9-9-abc.claim.tmp")
	os.WriteFile(junk, []byte("{"), 0o600)
	s := newTestStore(t, dir, WithLiveness(alive), WithClock(func() time.Time { return t0 }))

	stale, err := s.Stale(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]StaleClaim{}
	for _, c := range stale {
		got[c.Path] = c
	}
	if len(stale) != 2 || got[deadPath].VM != "ghost" || got[deadPath].PID != 101 || got[deadPath].Host != "h1" || got[junk].Reason == "" {
		t.Fatalf("stale = %+v; want the dead process's claim and the torn file", stale)
	}
	if _, ok := got[livePath]; ok {
		t.Fatal("a live process's claim is never stale, however old")
	}

	tests := []struct {
		name    string
		path    string
		wantErr bool
		gone    bool
	}{
		{name: "dead process's claim", path: deadPath, gone: true},
		{name: "torn file", path: junk, gone: true},
		{name: "already gone", path: deadPath, gone: true},
		{name: "live claim is refused", path: livePath, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.RemoveStale(context.Background(), tt.path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("RemoveStale: %v, want error %v", err, tt.wantErr)
			}
			_, serr := os.Stat(tt.path)
			if gone := errors.Is(serr, os.ErrNotExist); gone != tt.gone {
				t.Fatalf("file gone = %v, want %v", gone, tt.gone)
			}
		})
	}
}
