package libvirtbackend

import (
	"context"
	"errors"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/vmctl/vmctl/hypervisor"
)

// libvirt's in-process test driver needs no daemon and no guest, and ships
// with one foreign domain named "test" that vmctl must never touch.
func openTest(t *testing.T) *Backend {
	t.Helper()
	b, err := Open(context.Background(), "test:///default")
	if err != nil {
		t.Fatalf("open test driver: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func testXML(t *testing.T, name string) string {
	t.Helper()
	spec := &hypervisor.VMSpec{
		Name: name, VCPUs: 1, MemoryMiB: 128, Profile: hypervisor.ProfileFast,
		Accel:  hypervisor.AccelChoice{Mode: hypervisor.AccelTCG, Reason: "test"},
		Kernel: "/boot/vmlinux", Initramfs: "/boot/initrd",
		Meta:    hypervisor.Metadata{Created: time.Unix(0, 0).UTC(), Group: "g1"},
		Pinning: &hypervisor.Pinning{VCPUs: []int{3}, Emulator: []int{3}, MemoryNodes: []int{1}},
	}
	dom, err := hypervisor.BuildDomain(spec)
	if err != nil {
		t.Fatal(err)
	}
	// The test driver only knows type='test'.
	dom.Type = "test"
	out, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOwnershipIsEnforced(t *testing.T) {
	ctx := context.Background()
	b := openTest(t)
	for _, op := range []struct {
		name string
		call func() error
	}{
		{"lookup", func() error { _, err := b.Lookup(ctx, "test"); return err }},
		{"destroy", func() error { return b.Destroy(ctx, "test") }},
		{"undefine", func() error { return b.Undefine(ctx, "test") }},
		{"suspend", func() error { return b.Suspend(ctx, "test") }},
		{"open agent", func() error { _, err := b.OpenAgent(ctx, "test"); return err }},
	} {
		t.Run(op.name, func(t *testing.T) {
			if err := op.call(); !errors.Is(err, hypervisor.ErrNotOwned) {
				t.Fatalf("%s of foreign domain: err = %v, want ErrNotOwned", op.name, err)
			}
		})
	}
	// The foreign domain is still running: nothing touched it.
	err := b.do(ctx, idempotent, func(conn *libvirt.Connect) error {
		dom, err := conn.LookupDomainByName("test")
		if err != nil {
			return err
		}
		defer dom.Free()
		if active, _ := dom.IsActive(); !active {
			return errors.New("foreign domain was stopped")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLifecycleOnTestDriver(t *testing.T) {
	ctx := context.Background()
	b := openTest(t)
	if err := b.Define(ctx, testXML(t, "v1")); err != nil {
		t.Fatal(err)
	}
	if err := b.Define(ctx, testXML(t, "v1")); !errors.Is(err, hypervisor.ErrExists) {
		t.Fatalf("second define: err = %v, want ErrExists", err)
	}
	if err := b.Define(ctx, testXML(t, "test")); !errors.Is(err, hypervisor.ErrExists) {
		t.Fatalf("define over foreign domain: err = %v, want ErrExists", err)
	}
	info, err := b.Lookup(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != hypervisor.StateShutoff || info.Meta.Group != "g1" || info.Meta.AccelMode != hypervisor.AccelTCG {
		t.Fatalf("lookup: %+v", info)
	}
	if len(info.PinnedCPUs) != 1 || info.PinnedCPUs[0] != 3 || len(info.MemoryNodes) != 1 || info.MemoryNodes[0] != 1 {
		t.Fatalf("pinning not read back: cpus %v nodes %v", info.PinnedCPUs, info.MemoryNodes)
	}
	if err := b.Start(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	list, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "v1" || list[0].State != hypervisor.StateRunning {
		t.Fatalf("list must hold only vmctl's running v1, got %+v", list)
	}
	if err := b.Suspend(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if info, _ := b.Lookup(ctx, "v1"); info.State != hypervisor.StatePaused {
		t.Fatalf("after suspend: %s", info.State)
	}
	if err := b.Resume(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Destroy(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Destroy(ctx, "v1"); err != nil {
		t.Fatalf("destroy of a stopped domain must be a no-op, got %v", err)
	}
	if err := b.Undefine(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lookup(ctx, "v1"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("lookup after undefine: err = %v, want ErrNotFound", err)
	}
	if err := b.Destroy(ctx, "v1"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("destroy of a missing domain: err = %v, want ErrNotFound", err)
	}
}

func TestDefineRefusesXMLWithoutMetadata(t *testing.T) {
	b := openTest(t)
	err := b.Define(context.Background(), `<domain type='test'><name>bare</name><memory>131072</memory><os><type>hvm</type></os></domain>`)
	if err == nil {
		t.Fatal("define without vmctl metadata must fail")
	}
	lerr := b.do(context.Background(), idempotent, func(conn *libvirt.Connect) error {
		dom, err := conn.LookupDomainByName("bare")
		if err == nil {
			dom.Free()
		}
		return err
	})
	if lerr == nil {
		t.Fatal("a domain was created despite the error")
	}
}

func TestHostInfo(t *testing.T) {
	h, err := openTest(t).Host(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.CPUs <= 0 || h.MemoryTotalMiB <= 0 || h.LibvirtVersion == "" {
		t.Fatalf("incomplete host info: %+v", h)
	}
	// The test driver models a two-cell NUMA host.
	if len(h.Cells) != 2 {
		t.Fatalf("cells = %+v, want the test driver's 2 NUMA cells", h.Cells)
	}
	cpus := 0
	for _, c := range h.Cells {
		cpus += len(c.CPUs)
		if c.MemoryMiB <= 0 {
			t.Fatalf("cell %d without memory: %+v", c.ID, c)
		}
	}
	if cpus != h.CPUs {
		t.Fatalf("cells hold %d CPUs, host has %d", cpus, h.CPUs)
	}
}

func TestIsLocal(t *testing.T) {
	for uri, want := range map[string]bool{
		"qemu:///system": true, "qemu+unix:///system": true, "test:///default": true,
		"qemu+tcp://10.0.0.2/system": false, "qemu+ssh://host/system": false, "qemu://host/system": false,
	} {
		if got := IsLocal(uri); got != want {
			t.Errorf("IsLocal(%q) = %v, want %v", uri, got, want)
		}
	}
}
