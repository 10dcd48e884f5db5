package guestimage

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// TestBuildRealKernelDeb builds an image from a real Debian kernel package:
//
//	VMCTL_REAL_KERNEL_DEB=/path/to/linux-image-*.deb go test -run RealKernel -v ./hypervisor/guestimage/
//
// It needs a static busybox at /bin/busybox (apt-get install busybox-static),
// which also serves as the agent. Takes ~10 s.
func TestBuildRealKernelDeb(t *testing.T) {
	deb := os.Getenv("VMCTL_REAL_KERNEL_DEB")
	if deb == "" {
		t.Skip("set VMCTL_REAL_KERNEL_DEB to a linux-image-*.deb to run the real build")
	}
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	log.SetOutput(testWriter{t})
	opts := Options{
		CacheDir:  t.TempDir(),
		KernelDeb: deb,
		AgentPath: DefaultBusyboxPath,
		Log:       log,
	}
	start := time.Now()
	img, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Logf("full build took %v (manifest: %.2f s)", time.Since(start), img.Manifest.BuildSeconds)
	for name, size := range img.Manifest.Files {
		t.Logf("%-18s %10d bytes", name, size)
	}
	t.Logf("kernel %s %s (%s), payload %s, PVH entry %s", img.Manifest.Kernel.Package, img.Manifest.Kernel.Version,
		img.KernelRelease, img.Manifest.PayloadCompression, img.Manifest.PVHEntry)
	t.Logf("load order: %v; built in: %v", img.Manifest.Modules.LoadOrder, img.Manifest.Modules.Builtin)

	if !img.PVH || img.Kernel != img.Dir+"/"+fileVmlinux {
		t.Errorf("PVH = %v (%s), Kernel = %s; want PVH vmlinux", img.PVH, img.Manifest.PVHReason, img.Kernel)
	}
	f, err := os.Open(img.Kernel)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := pvhEntry(f); err != nil {
		t.Errorf("vmlinux: %v", err)
	}

	// Measured on Debian's 6.1 kernel (docs/host-facts.md).
	order := img.Manifest.Modules.LoadOrder
	for mod, deps := range map[string][]string{
		"virtio":         {"virtio_ring"},
		"virtio_pci":     {"virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio"},
		"virtio_console": {"virtio", "virtio_ring"},
		"9pnet_virtio":   {"virtio", "9pnet", "virtio_ring"},
		"9p":             {"9pnet", "fscache", "netfs"},
		"fscache":        {"netfs"},
	} {
		i := slices.Index(order, mod)
		if i < 0 {
			t.Errorf("%s missing from load order", mod)
			continue
		}
		for _, d := range deps {
			if j := slices.Index(order, d); j < 0 || j > i {
				t.Errorf("%s (at %d) must follow its dependency %s (at %d)", mod, i, d, j)
			}
		}
	}
	entries := readInitramfs(t, img.Initramfs)
	if e, ok := entries["init"]; !ok || e.mode.Perm() != 0o755 {
		t.Errorf("/init missing or wrong mode")
	}
	if got := string(entries[initramfsLoadOrder].body); got == "" {
		t.Errorf("empty load-order")
	}

	start = time.Now()
	again, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	t.Logf("cached build took %v", time.Since(start))
	if !again.Cached {
		t.Errorf("second Build was not cached")
	}
}
