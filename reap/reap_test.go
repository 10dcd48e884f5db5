package reap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/hypervisortest"
	"github.com/vmctl/vmctl/scheduler"
)

// Owners of the tests: pid 1001 and 1002 are gone, every other pid runs.
var (
	deadOwner  = &hypervisor.Owner{PID: 1001, Start: 5, Boot: "b", Host: "h"}
	dead2      = &hypervisor.Owner{PID: 1002, Start: 5, Boot: "b", Host: "h"}
	liveOwner  = &hypervisor.Owner{PID: 2001, Start: 5, Boot: "b", Host: "h"}
	deadPIDs   = map[int]bool{1001: true, 1002: true}
	t0         = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	localURI   = "test:///local"
	remoteURI  = "qemu+tcp://r/system"
	downURI    = "qemu+tcp://down/system"
	localHost  = "local"
	remoteHost = "r"
)

func ownerCheck(o hypervisor.Owner) (bool, string) {
	if deadPIDs[o.PID] {
		return false, fmt.Sprintf("owner pid %d is gone", o.PID)
	}
	return true, fmt.Sprintf("owner pid %d still runs", o.PID)
}

// world is a fleet of fake hosts with vmctl's directories in temp dirs.
type world struct {
	t                                *testing.T
	fakes                            map[string]*hypervisortest.Fake
	fleet                            *scheduler.Fleet
	claims                           *scheduler.ClaimStore
	stateDir, scratchDir, channelDir string
	image                            hypervisor.BootImage
	now                              time.Time
}

func newWorld(t *testing.T, down bool) *world {
	t.Helper()
	w := &world{t: t, fakes: map[string]*hypervisortest.Fake{}, stateDir: t.TempDir(), scratchDir: t.TempDir(), channelDir: t.TempDir(), now: t0}
	specs := []scheduler.HostSpec{{Name: localHost, URI: localURI}, {Name: remoteHost, URI: remoteURI}}
	if down {
		specs = append(specs, scheduler.HostSpec{Name: "down", URI: downURI})
	}
	for _, s := range specs[:2] {
		w.fakes[s.URI] = hypervisortest.New(s.URI, hypervisor.HostInfo{CPUs: 4, MemoryTotalMiB: 8192, MemoryFreeMiB: 8192})
	}
	open := func(ctx context.Context, uri string) (hypervisor.Backend, error) {
		if f, ok := w.fakes[uri]; ok {
			return f, nil
		}
		return nil, fmt.Errorf("connect %s: %w", uri, hypervisor.ErrUnreachable)
	}
	w.fleet = scheduler.OpenFleet(context.Background(), specs, open,
		hypervisor.Config{StateDir: w.stateDir, ScratchDir: w.scratchDir},
		hypervisor.WithKVMProbe(func() hypervisor.KVMProbe { return hypervisor.KVMProbe{CPUFlags: []string{"fpu"}} }))
	t.Cleanup(w.fleet.Close)
	var err error
	if w.claims, err = scheduler.NewClaimStore(t.TempDir(), scheduler.WithLiveness(func(pid int, _ uint64) bool { return !deadPIDs[pid] })); err != nil {
		t.Fatal(err)
	}
	img := t.TempDir()
	for _, f := range []string{"vmlinux", "bzImage", "initramfs.cpio.gz"} {
		os.WriteFile(filepath.Join(img, f), []byte("x"), 0o644)
	}
	w.image = hypervisor.BootImage{Dir: img, Kernel: filepath.Join(img, "vmlinux"), BzImage: filepath.Join(img, "bzImage"), Initramfs: filepath.Join(img, "initramfs.cpio.gz"), PVH: true}
	return w
}

func (w *world) reaper() *Reaper {
	w.t.Helper()
	r, err := New(Config{Fleet: w.fleet, Claims: w.claims, StateDir: w.stateDir, ScratchDir: w.scratchDir, ChannelDir: w.channelDir},
		WithClock(func() time.Time { return w.now }), WithOwnerCheck(ownerCheck))
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// vm creates a VM on host (by URI) the way vmctl does, owner and all.
func (w *world) vm(uri, name string, owner *hypervisor.Owner, scratch bool) {
	w.t.Helper()
	var host string
	for _, m := range w.fleet.Members() {
		if m.Spec.URI == uri {
			host = m.Spec.Name
		}
	}
	req := hypervisor.CreateRequest{Name: name, VCPUs: 1, MemoryMiB: 256, Image: w.image, NoWait: true, Owner: owner, Job: "job1"}
	if scratch {
		req.ScratchMiB = 1
	}
	if _, err := w.fleet.Member(host).Manager.Create(context.Background(), req); err != nil {
		w.t.Fatal(err)
	}
}

// stateDirOf makes a state directory as a create does; owner nil: none.
func (w *world) stateDirOf(name string, owner *hypervisor.Owner, age time.Duration) string {
	w.t.Helper()
	dir := filepath.Join(w.stateDir, name)
	if err := os.Mkdir(dir, 0o750); err != nil {
		w.t.Fatal(err)
	}
	if owner != nil {
		if err := hypervisor.WriteStateOwner(dir, owner, w.now); err != nil {
			w.t.Fatal(err)
		}
	}
	w.age(dir, age)
	return dir
}

func (w *world) file(path string, age time.Duration) string {
	w.t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		w.t.Fatal(err)
	}
	w.age(path, age)
	return path
}

func (w *world) age(path string, age time.Duration) {
	w.t.Helper()
	at := w.now.Add(-age)
	if err := os.Chtimes(path, at, at); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) claim(vm string, pid int) {
	w.t.Helper()
	inv := func(context.Context) ([]scheduler.Host, error) {
		return []scheduler.Host{{Name: localHost, URI: localURI, KVM: true, CPUs: 4, MemoryTotalMiB: 8192, MemoryFreeMiB: 8192,
			Cells: []scheduler.Cell{{ID: 0, CPUs: []int{0, 1, 2, 3}, MemoryMiB: 8192, FreeMiB: 8192}}}}, nil
	}
	// The claim is written as this process's and then handed to pid.
	_, _, err := w.claims.Reserve(context.Background(), inv, scheduler.Request{Name: vm, VCPUs: 1, MemoryMiB: 256}, scheduler.DefaultPolicy())
	if err != nil {
		w.t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(w.claims.Dir(), "*.claim"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		var c map[string]any
		json.Unmarshal(data, &c)
		if c["vm"] == vm {
			c["pid"] = pid
			data, _ = json.Marshal(c)
			os.WriteFile(f, data, 0o600)
		}
	}
}

// keys renders findings as "kind host name" for comparison.
func keys(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, string(f.Kind)+" "+f.Host+" "+f.Name)
	}
	sort.Strings(out)
	return out
}

func TestScan(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(w *world)
		down    bool
		want    []string
		skipped []string // each Skipped line must contain one of these, in order
	}{
		{name: "nothing", setup: func(w *world) {}},
		{name: "a dead owner's domain, its state dir covered by it", setup: func(w *world) {
			w.vm(localURI, "j-a-0", deadOwner, false)
			w.vm(remoteURI, "j-a-1", dead2, false)
		}, want: []string{"domain local j-a-0", "domain r j-a-1"}},
		{name: "a live owner's domain", setup: func(w *world) { w.vm(localURI, "j-a-0", liveOwner, false) }},
		{name: "the user's vm has no owner", setup: func(w *world) { w.vm(localURI, "mine", nil, false) }},
		{name: "a foreign domain", setup: func(w *world) { w.fakes[localURI].AddForeign("theirs") }},
		{name: "state dirs", setup: func(w *world) {
			w.stateDirOf("crashed", deadOwner, time.Minute)
			w.stateDirOf("in-flight", liveOwner, time.Hour)
			w.stateDirOf("old-no-owner", nil, 11*time.Minute)
			w.stateDirOf("young-no-owner", nil, 9*time.Minute)
			w.file(filepath.Join(w.stateDir, "not-a-dir"), time.Hour)
		}, want: []string{"statedir local crashed", "statedir local old-no-owner"}},
		{name: "scratch disks", setup: func(w *world) {
			w.vm(localURI, "has-domain", nil, true)
			w.file(filepath.Join(w.scratchDir, "old.raw"), time.Hour)
			w.file(filepath.Join(w.scratchDir, "young.raw"), time.Minute)
			w.stateDirOf("flying", liveOwner, time.Hour)
			w.file(filepath.Join(w.scratchDir, "flying.raw"), time.Hour)
			w.stateDirOf("crashed", deadOwner, time.Hour)
			w.file(filepath.Join(w.scratchDir, "crashed.raw"), time.Minute)
			w.file(filepath.Join(w.scratchDir, "notes.txt"), time.Hour)
		}, want: []string{"scratch local crashed", "scratch local old", "statedir local crashed"}},
		{name: "agent sockets", setup: func(w *world) {
			w.vm(localURI, "running", nil, false)
			w.vm(localURI, "stopped", nil, false)
			w.fakes[localURI].SetState("stopped", hypervisor.StateShutoff)
			w.vm(localURI, "a-name-longer-than-twenty", nil, false)
			w.vm(remoteURI, "remote-only", nil, false)
			for _, d := range []string{"domain-1-running", "domain-2-stopped", "domain-3-gone", "domain-4-a-name-longer-than-t", "domain-5-remote-only"} {
				w.file(filepath.Join(w.channelDir, d, "org.vmctl.agent.0"), time.Hour)
			}
			w.file(filepath.Join(w.channelDir, "domain-6-gone2", "org.qemu.guest_agent.0"), time.Hour)
			w.file(filepath.Join(w.channelDir, "not-a-domain", "org.vmctl.agent.0"), time.Hour)
		}, want: []string{"socket local gone", "socket local remote-only", "socket local stopped"}},
		{name: "claims", setup: func(w *world) {
			// Reserve drops dead claims, so the dead one is made last.
			w.claim("busy", 2001)
			w.claim("ghost", 1001)
		}, want: []string{"claim local ghost"}},
		{name: "an unreachable host", down: true, setup: func(w *world) {
			w.vm(localURI, "j-a-0", deadOwner, false)
			w.stateDirOf("maybe-on-down", deadOwner, time.Hour)
		}, want: []string{"domain local j-a-0"}, skipped: []string{"host down is unreachable", "state directories"}},
		{name: "a host that cannot be listed", setup: func(w *world) {
			w.vm(remoteURI, "j-a-1", deadOwner, false)
			w.fakes[remoteURI].SetFail(func(op, name string) error {
				if op == "list" {
					return hypervisor.ErrConnectionLost
				}
				return nil
			})
		}, skipped: []string{"host r: list domains", "state directories"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.down)
			tt.setup(w)
			rep, err := w.reaper().Scan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = []string{}
			}
			if got := keys(rep.Findings); !reflect.DeepEqual(got, want) {
				t.Fatalf("findings %v, want %v\n%+v", got, want, rep.Findings)
			}
			if len(rep.Skipped) != len(tt.skipped) {
				t.Fatalf("skipped %q, want %d lines", rep.Skipped, len(tt.skipped))
			}
			for i, s := range tt.skipped {
				if !strings.Contains(rep.Skipped[i], s) {
					t.Errorf("skipped[%d] = %q, want %q in it", i, rep.Skipped[i], s)
				}
			}
			for _, f := range rep.Findings {
				if f.Reason == "" || f.Removed || f.Error != "" {
					t.Errorf("finding %+v: a scan gives a reason and removes nothing", f)
				}
			}
		})
	}
}

func TestScanDomainFinding(t *testing.T) {
	w := newWorld(t, false)
	w.vm(localURI, "j-a-0", deadOwner, false)
	rep, err := w.reaper().Scan(context.Background())
	if err != nil || len(rep.Findings) != 1 {
		t.Fatalf("%+v, %v", rep, err)
	}
	want := Finding{Kind: KindDomain, Host: localHost, Name: "j-a-0", Path: filepath.Join(w.stateDir, "j-a-0"),
		Owner: "pid 1001 on h, job job1", Reason: "owner pid 1001 is gone"}
	if rep.Findings[0] != want {
		t.Fatalf("finding %+v, want %+v", rep.Findings[0], want)
	}
}

func TestRemove(t *testing.T) {
	w := newWorld(t, false)
	local := w.fakes[localURI]
	w.vm(localURI, "j-a-0", deadOwner, true)
	w.vm(localURI, "mine", nil, false)
	local.AddForeign("theirs")
	w.stateDirOf("crashed", deadOwner, time.Hour)
	w.file(filepath.Join(w.scratchDir, "old.raw"), time.Hour)
	sock := w.file(filepath.Join(w.channelDir, "domain-3-gone", "org.vmctl.agent.0"), time.Hour)
	w.claim("ghost", 1001)
	r := w.reaper()
	rep, err := r.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(rep.Findings); len(got) != 5 {
		t.Fatalf("findings %v", got)
	}
	done, err := r.Remove(context.Background(), rep.Findings)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range done {
		if !f.Removed || f.Error != "" {
			t.Errorf("not removed: %+v", f)
		}
	}
	if _, err := local.Lookup(context.Background(), "j-a-0"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("orphan domain still there: %v", err)
	}
	for _, p := range []string{filepath.Join(w.stateDir, "j-a-0"), filepath.Join(w.scratchDir, "j-a-0.raw"), filepath.Join(w.stateDir, "crashed"),
		filepath.Join(w.scratchDir, "old.raw"), sock, filepath.Dir(sock)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	if _, err := local.Lookup(context.Background(), "mine"); err != nil {
		t.Fatalf("the user's VM was touched: %v", err)
	}
	if !local.IsForeign("theirs") || len(local.Refused) > 0 {
		t.Fatalf("the foreign domain was touched: refused %v", local.Refused)
	}
	for _, c := range local.Mutations() {
		if !strings.HasSuffix(c, " j-a-0") && !strings.HasPrefix(c, "define ") && !strings.HasPrefix(c, "start ") {
			t.Errorf("unexpected call %q", c)
		}
	}
	rep, err = r.Scan(context.Background())
	if err != nil || len(rep.Findings) != 0 {
		t.Fatalf("after removal: %+v, %v", rep.Findings, err)
	}
}

func TestRemoveNamesWhatStays(t *testing.T) {
	w := newWorld(t, false)
	w.vm(remoteURI, "j-a-1", deadOwner, false)
	w.vm(localURI, "j-a-0", dead2, false)
	r := w.reaper()
	rep, err := r.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.fakes[remoteURI].SetFail(func(op, name string) error {
		if op == "destroy" {
			return fmt.Errorf("destroy %s: %w", name, hypervisor.ErrConnectionLost)
		}
		return nil
	})
	done, err := r.Remove(context.Background(), rep.Findings)
	if !hypervisor.OnlyLeftBehind(err) || !errors.Is(err, hypervisor.ErrConnectionLost) {
		t.Fatalf("err = %v, want only resources left behind", err)
	}
	items := hypervisor.Leftovers(err)
	if len(items) != 1 || items[0].Name != "j-a-1" || items[0].Host != remoteHost || !strings.Contains(items[0].Fix, "`vmctl vm rm j-a-1` on host r") {
		t.Fatalf("left behind %+v", items)
	}
	byName := map[string]Finding{}
	for _, f := range done {
		byName[f.Name] = f
	}
	if f := byName["j-a-1"]; f.Removed || !strings.Contains(f.Error, "connection lost") {
		t.Fatalf("failed finding %+v", f)
	}
	if f := byName["j-a-0"]; !f.Removed || f.Error != "" {
		t.Fatalf("the other host's orphan must still go: %+v", f)
	}
}

func TestRemoveRechecksTheOwner(t *testing.T) {
	w := newWorld(t, false)
	w.vm(localURI, "j-a-0", liveOwner, false)
	// A finding for a VM whose owner runs (a stale listing, or a wrong one)
	// is refused.
	done, err := w.reaper().Remove(context.Background(), []Finding{{Kind: KindDomain, Host: localHost, Name: "j-a-0"}})
	if err == nil || done[0].Removed || !strings.Contains(done[0].Error, "not garbage") {
		t.Fatalf("%+v, %v", done, err)
	}
	if _, err := w.fakes[localURI].Lookup(context.Background(), "j-a-0"); err != nil {
		t.Fatal(err)
	}
}

func TestFindingJSONFields(t *testing.T) {
	data, err := json.Marshal([]Finding{{Kind: KindStateDir, Host: "local", Name: "x", Path: "/p"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	json.Unmarshal(data, &got)
	var fields []string
	for k := range got[0] {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	want := []string{"error", "host", "kind", "name", "owner", "path", "reason", "removed"}
	if !reflect.DeepEqual(fields, want) {
		t.Fatalf("fields %v, want %v (every field, always)", fields, want)
	}
}

func TestChannelDomain(t *testing.T) {
	tests := []struct {
		dir, name string
		ok        bool
	}{
		{"domain-1-abcdefghijklmnopqrst", "abcdefghijklmnopqrst", true},
		{"domain-12-j-primes-abc-0", "j-primes-abc-0", true},
		{"domain--x", "", false},
		{"domain-x-y", "", false},
		{"domain-3", "", false},
		{"other-1-x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			name, ok := channelDomain(tt.dir)
			if name != tt.name || ok != tt.ok {
				t.Fatalf("got %q %v, want %q %v", name, ok, tt.name, tt.ok)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	fs := []Finding{{Kind: KindDomain, Name: "a"}, {Kind: KindStateDir, Name: "b"}, {Kind: KindSocket, Name: "vmctl-it-12345-gc-jo"}}
	if got := keys(Filter(fs, nil)); len(got) != 3 {
		t.Fatalf("no names keeps all: %v", got)
	}
	if got := keys(Filter(fs, []string{"a", "vmctl-it-12345-gc-job-0"})); !reflect.DeepEqual(got, []string{"domain  a", "socket  vmctl-it-12345-gc-jo"}) {
		t.Fatalf("filtered %v", got)
	}
	if got := Filter(fs, []string{"zzz"}); got == nil || len(got) != 0 {
		t.Fatalf("nothing matching is an empty list, not nil: %#v", got)
	}
}
