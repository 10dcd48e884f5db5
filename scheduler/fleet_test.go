package scheduler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/hypervisortest"
)

// fakeFleet is a fleet of in-memory hosts; a host listed in down fails to
// open, as an unreachable libvirtd does.
type fakeFleet struct {
	fleet  *Fleet
	fakes  map[string]*hypervisortest.Fake
	claims *ClaimStore
	image  hypervisor.BootImage
}

func fakeHostInfo(cpus, memMiB int) hypervisor.HostInfo {
	ids := make([]int, cpus)
	for i := range ids {
		ids[i] = i
	}
	return hypervisor.HostInfo{
		CPUs: cpus, MemoryTotalMiB: memMiB, MemoryFreeMiB: memMiB, CPUFlags: []string{"vmx"}, KVMDevice: true,
		Cells: []hypervisor.NUMACell{{ID: 0, CPUs: ids, MemoryMiB: memMiB, FreeMiB: memMiB}},
	}
}

func newFakeFleet(t *testing.T, specs []HostSpec, down map[string]error) *fakeFleet {
	t.Helper()
	ff := &fakeFleet{fakes: map[string]*hypervisortest.Fake{}}
	for _, s := range specs {
		if down[s.URI] == nil {
			ff.fakes[s.URI] = hypervisortest.New(s.URI, fakeHostInfo(4, 4096))
		}
	}
	open := func(ctx context.Context, uri string) (hypervisor.Backend, error) {
		if err := down[uri]; err != nil {
			return nil, err
		}
		return ff.fakes[uri], nil
	}
	ff.fleet = OpenFleet(context.Background(), specs, open, hypervisor.Config{StateDir: t.TempDir()})
	t.Cleanup(ff.fleet.Close)
	var err error
	if ff.claims, err = NewClaimStore(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"vmlinux", "bzImage", "initramfs.cpio.gz"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ff.image = hypervisor.BootImage{Dir: dir, Kernel: filepath.Join(dir, "vmlinux"), BzImage: filepath.Join(dir, "bzImage"),
		Initramfs: filepath.Join(dir, "initramfs.cpio.gz"), PVH: true}
	return ff
}

func (ff *fakeFleet) create(name string, vcpus, mem int, pin bool) (*CreateResult, error) {
	return ff.fleet.Create(context.Background(), ff.claims, noReserve(), Request{Pin: pin},
		hypervisor.CreateRequest{Name: name, VCPUs: vcpus, MemoryMiB: mem, Image: ff.image, NoWait: true})
}

func twoRemoteSpecs() []HostSpec {
	return []HostSpec{{Name: "a", URI: "qemu+tcp://a/system"}, {Name: "b", URI: "qemu+tcp://b/system"}}
}

func TestInventorySkipsUnreachableHosts(t *testing.T) {
	specs := append(twoRemoteSpecs(), HostSpec{Name: "gone", URI: "qemu+tcp://gone/system"})
	ff := newFakeFleet(t, specs, map[string]error{"qemu+tcp://gone/system": errors.New("connection refused")})
	inv, err := ff.fleet.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != 3 {
		t.Fatalf("inventory has %d hosts, want 3", len(inv))
	}
	for _, h := range inv[:2] {
		if h.Err != "" || h.CPUs != 4 || h.MemoryFreeMiB != 4096 || len(h.Cells) != 1 || !h.KVM {
			t.Errorf("reachable host %s: %+v", h.Name, h)
		}
	}
	if !strings.Contains(inv[2].Err, "connection refused") {
		t.Errorf("unreachable host error %q does not give the reason", inv[2].Err)
	}

	// The unreachable host is only skipped: placement still works.
	res, err := ff.create("vm1", 1, 256, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Host == "gone" {
		t.Fatal("placed on the unreachable host")
	}
	if !strings.Contains(fmt.Sprint(res.Placement.Verdicts), "gone") {
		t.Errorf("verdicts do not mention the unreachable host: %+v", res.Placement.Verdicts)
	}
}

func TestInventoryCountsVMsAndTheirPinning(t *testing.T) {
	ff := newFakeFleet(t, twoRemoteSpecs()[:1], nil)
	if _, err := ff.create("pinned", 2, 512, true); err != nil {
		t.Fatal(err)
	}
	inv, err := ff.fleet.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	vms := inv[0].VMs
	if len(vms) != 1 || vms[0].Name != "pinned" || vms[0].VCPUs != 2 || vms[0].MemoryMiB != 512 {
		t.Fatalf("inventory VMs %+v", vms)
	}
	if len(vms[0].PinnedCPUs) != 2 || len(vms[0].Cells) != 1 {
		t.Fatalf("pinned VM lost its pinning in the inventory: %+v", vms[0])
	}
	// A second pinned VM must get the other two CPUs, not the same ones.
	res, err := ff.create("pinned2", 2, 512, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Placement.Pinning.VCPUs {
		for _, used := range vms[0].PinnedCPUs {
			if c == used {
				t.Fatalf("CPU %d handed out twice (%v and %v)", c, vms[0].PinnedCPUs, res.Placement.Pinning.VCPUs)
			}
		}
	}
	// Four CPUs are now dedicated: a fifth pinned vCPU fits nowhere.
	if _, err := ff.create("pinned3", 1, 256, true); !errors.Is(err, ErrNoValidHost) {
		t.Fatalf("third pinned VM: err %v, want ErrNoValidHost", err)
	}
}

func TestFleetCreateSpreadsAndFindsEverywhere(t *testing.T) {
	ff := newFakeFleet(t, twoRemoteSpecs(), nil)
	r1, err := ff.create("one", 1, 256, false)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ff.create("two", 1, 256, false)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Host == r2.Host {
		t.Fatalf("spread put both VMs on %s", r1.Host)
	}
	for _, c := range []*CreateResult{r1, r2} {
		m, info, err := ff.fleet.Find(context.Background(), c.Info.Name)
		if err != nil || m.Spec.Name != c.Host || info.Host != c.Host {
			t.Errorf("find %s: member %v info.Host %q err %v, want host %s", c.Info.Name, m, info.Host, err, c.Host)
		}
	}
	all, err := ff.fleet.List(context.Background())
	if err != nil || len(all) != 2 || all[0].Host == all[1].Host {
		t.Fatalf("list %+v err %v", all, err)
	}
	// Names are unique across the fleet, not per host.
	if _, err := ff.create("one", 1, 256, false); !errors.Is(err, hypervisor.ErrExists) {
		t.Fatalf("duplicate name on another host: err %v, want ErrExists", err)
	}
	if _, _, err := ff.fleet.Find(context.Background(), "nope"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("find missing: %v", err)
	}
}

func TestFleetCreateTooBigCreatesNothing(t *testing.T) {
	ff := newFakeFleet(t, twoRemoteSpecs(), nil)
	_, err := ff.create("huge", 1, 8192, false)
	if !errors.Is(err, ErrNoValidHost) {
		t.Fatalf("err %v, want ErrNoValidHost", err)
	}
	wantContains(t, err.Error(), "a: memory", "b: memory")
	for uri, f := range ff.fakes {
		if len(f.Calls) != 0 {
			t.Errorf("%s: calls %v after a rejected request", uri, f.Calls)
		}
	}
	if claims, _ := os.ReadDir(ff.claims.Dir()); len(claims) > 1 {
		t.Errorf("claims left: %v", claims)
	}
}

func TestFleetCreateFailureReleasesTheClaim(t *testing.T) {
	ff := newFakeFleet(t, twoRemoteSpecs()[:1], nil)
	boom := errors.New("qemu exploded")
	ff.fakes["qemu+tcp://a/system"].FailStart["first"] = boom
	if _, err := ff.create("first", 1, 3000, false); !errors.Is(err, boom) {
		t.Fatalf("err %v, want the start failure", err)
	}
	// The failed VM is gone and its 3000 MiB are free again, so a VM of
	// the same size is admitted.
	if vms, _ := ff.fakes["qemu+tcp://a/system"].List(context.Background()); len(vms) != 0 {
		t.Fatalf("failed create left %+v", vms)
	}
	if _, err := ff.create("second", 1, 3000, false); err != nil {
		t.Fatalf("claim of the failed create was not released: %v", err)
	}
}

func TestFleetLeavesAForeignDomainAlone(t *testing.T) {
	tests := []struct {
		name string
		op   func(ff *fakeFleet) error
		has  string
	}{
		{name: "create", op: func(ff *fakeFleet) error { _, err := ff.create("theirs", 1, 256, false); return err },
			has: "create theirs: a domain named theirs on host b is not vmctl's (it has no vmctl metadata); vmctl leaves it alone: pick another name"},
		{name: "remove", op: func(ff *fakeFleet) error { return ff.fleet.Remove(context.Background(), "theirs") },
			has: "a domain named theirs on host b is not vmctl's"},
		{name: "remove on its host", op: func(ff *fakeFleet) error { return ff.fleet.RemoveOn(context.Background(), "b", "theirs") },
			has: "a domain named theirs on host b is not vmctl's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ff := newFakeFleet(t, twoRemoteSpecs(), nil)
			b := ff.fakes["qemu+tcp://b/system"]
			b.AddForeign("theirs")
			err := tt.op(ff)
			if !errors.Is(err, hypervisor.ErrNotOwned) || errors.Is(err, hypervisor.ErrLeftBehind) || !strings.Contains(err.Error(), tt.has) {
				t.Fatalf("err = %v; want ErrNotOwned (nothing of vmctl's left) mentioning %q", err, tt.has)
			}
			for uri, f := range ff.fakes {
				if len(f.Calls) > 0 || len(f.Refused) > 0 {
					t.Fatalf("host %s was touched: calls %v, refused %v", uri, f.Calls, f.Refused)
				}
			}
			if !b.IsForeign("theirs") {
				t.Fatal("the foreign domain is gone")
			}
		})
	}
}

func TestFleetRemoveOn(t *testing.T) {
	lost := fmt.Errorf("lookup: %w", hypervisor.ErrConnectionLost)
	tests := []struct {
		name     string
		host     string
		fail     error // every call on host a fails with it
		wantLeft bool
		wantIs   error
	}{
		{name: "removed", host: "a"},
		{name: "libvirtd gone", host: "a", fail: lost, wantLeft: true, wantIs: hypervisor.ErrConnectionLost},
		{name: "host not open", host: "gone", wantLeft: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs := append(twoRemoteSpecs(), HostSpec{Name: "gone", URI: "qemu+tcp://gone/system"})
			ff := newFakeFleet(t, specs, map[string]error{"qemu+tcp://gone/system": errors.New("connection refused")})
			if _, err := ff.create("w", 1, 256, false); err != nil {
				t.Fatal(err)
			}
			a := ff.fakes["qemu+tcp://a/system"]
			if tt.fail != nil {
				a.Fail = func(op, name string) error { return tt.fail }
			}
			err := ff.fleet.RemoveOn(context.Background(), tt.host, "w")
			if !tt.wantLeft {
				if err != nil {
					t.Fatal(err)
				}
				if err := ff.fleet.RemoveOn(context.Background(), tt.host, "w"); err != nil {
					t.Fatalf("removing a VM that is gone: %v, want nil", err)
				}
				return
			}
			var lb *hypervisor.LeftBehind
			if !errors.As(err, &lb) || len(lb.Items) != 1 || lb.Items[0].Host != tt.host || lb.Items[0].Name != "w" {
				t.Fatalf("err = %#v, want one VM left behind on %s", err, tt.host)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("%v lost %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), "`vmctl vm rm w` on host "+tt.host) {
				t.Fatalf("no fix in %q", err)
			}
		})
	}
}

func TestFleetRemoveFixFitsTheVM(t *testing.T) {
	tests := []struct {
		name   string
		owner  *hypervisor.Owner
		wantGC bool
	}{
		{name: "the user's vm goes only by vm rm", owner: nil},
		{name: "a process's vm goes by gc too", owner: &hypervisor.Owner{PID: 1, Start: 1}, wantGC: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ff := newFakeFleet(t, twoRemoteSpecs(), nil)
			_, err := ff.fleet.Create(context.Background(), ff.claims, noReserve(), Request{},
				hypervisor.CreateRequest{Name: "w", VCPUs: 1, MemoryMiB: 256, Image: ff.image, NoWait: true, Owner: tt.owner})
			if err != nil {
				t.Fatal(err)
			}
			ff.fakes["qemu+tcp://a/system"].Fail = func(op, name string) error {
				if op == "undefine" {
					return hypervisor.ErrConnectionLost
				}
				return nil
			}
			err = ff.fleet.Remove(context.Background(), "w")
			items := hypervisor.Leftovers(err)
			if !hypervisor.OnlyLeftBehind(err) || len(items) != 1 || !strings.HasPrefix(items[0].Fix, "`vmctl vm rm w` on host a") {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(items[0].Fix, "gc") != tt.wantGC {
				t.Fatalf("fix %q: mentions gc %v, want %v", items[0].Fix, !tt.wantGC, tt.wantGC)
			}
		})
	}
}
