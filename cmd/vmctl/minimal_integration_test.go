//go:build integration

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmctl/vmctl/hypervisor/guestimage"
)

// minimalImageDir holds the minimal-kernel image, apart from the image the
// other tests boot (a build moves the cache's "current" link).
var minimalImageDir = envOr("VMCTL_MINIMAL_IMAGE_DIR", "/var/lib/vmctl/images-minimal")

// TestMinimalKernel builds the image with the minimal kernel and boots it:
// the kernel is compiled once per host (minutes on 2 cores; cached under
// /var/lib/vmctl/kernels), the image around it in seconds. The guest must
// do what the Debian kernel's does with its modules: the agent's channel,
// 2 vCPUs, a 9p share, a clean poweroff.
func TestMinimalKernel(t *testing.T) {
	state := t.TempDir()
	name := vmName(t, "minimal")
	share := t.TempDir()
	if err := os.WriteFile(filepath.Join(share, "hello.txt"), []byte("over 9p\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(share, 0o755)
	os.Chmod(filepath.Dir(share), 0o755)
	t.Cleanup(func() {
		vmctl(t, state, "vm", "rm", name)
		assertNothingLeft(t, state, name)
	})
	img := []string{"--image-dir", minimalImageDir}

	start := time.Now()
	b := mustVMCTL(t, state, append(img, "image", "build", "--kernel", "minimal", "--agent", filepath.Join(binDir, "vmctl-agent"))...)
	t.Logf("image build (%s): %s", time.Since(start).Round(time.Second), strings.TrimSpace(b.stdout))
	var im guestimage.Image
	if err := json.Unmarshal([]byte(mustVMCTL(t, state, append(img, "-o", "json", "image", "show")...).stdout), &im); err != nil {
		t.Fatal(err)
	}
	if im.KernelFlavor != guestimage.KernelMinimal || !im.PVH || len(im.Manifest.Modules.LoadOrder) != 0 || im.Manifest.KernelBuild == nil {
		t.Fatalf("image: flavor %q PVH %v load order %v kernel build %+v", im.KernelFlavor, im.PVH, im.Manifest.Modules.LoadOrder, im.Manifest.KernelBuild)
	}
	again := mustVMCTL(t, state, append(img, "image", "build", "--kernel", "minimal", "--agent", filepath.Join(binDir, "vmctl-agent"))...)
	if !strings.Contains(again.stdout, "cached") {
		t.Errorf("second build was not cached: %s", again.stdout)
	}

	r := mustVMCTL(t, state, append(img, "vm", "create", name, "--vcpus", "2", "--memory", "256", "--share", share+":data")...)
	t.Logf("create: %s", strings.TrimSpace(r.stdout))

	t.Run("guest runs the minimal kernel with 2 vCPUs", func(t *testing.T) {
		r := mustVMCTL(t, state, "vm", "exec", name, "--", "sh", "-c", "uname -r; grep -c ^processor /proc/cpuinfo")
		if got := strings.Fields(r.stdout); len(got) != 2 || got[0] != im.KernelRelease || got[1] != "2" {
			t.Fatalf("got %q, want release %s and 2 CPUs", r.stdout, im.KernelRelease)
		}
	})
	t.Run("no modules, all built in", func(t *testing.T) {
		r := mustVMCTL(t, state, "vm", "console", name, "--log")
		if !strings.Contains(r.stdout, "modules: 0 loaded,") || !strings.Contains(r.stdout, " 0 failed") {
			t.Errorf("console log: %q", r.stdout)
		}
	})
	// Without ACPI timers the guest can only time its TSC against the
	// emulated PIT, which fails under TCG; vmctl passes the host's TSC
	// frequency so the guest keeps a nanosecond clock instead of jiffies.
	t.Run("TSC clocksource", func(t *testing.T) {
		r := mustVMCTL(t, state, "vm", "exec", name, "--", "cat", "/sys/devices/system/clocksource/clocksource0/current_clocksource")
		if !strings.HasPrefix(r.stdout, "tsc") {
			t.Fatalf("guest clocksource %q, want tsc", strings.TrimSpace(r.stdout))
		}
	})
	t.Run("9p share", func(t *testing.T) {
		if r := mustVMCTL(t, state, "vm", "exec", name, "--", "cat", "/mnt/data/hello.txt"); r.stdout != "over 9p\n" {
			t.Fatalf("got %q", r.stdout)
		}
	})
	t.Run("exit code and both streams", func(t *testing.T) {
		r := vmctl(t, state, "vm", "exec", name, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		if r.code != 3 || r.stdout != "out\n" || r.stderr != "err\n" {
			t.Fatalf("got code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("stop powers off cleanly", func(t *testing.T) {
		r := mustVMCTL(t, state, "vm", "stop", name)
		if !strings.Contains(r.stdout, "cleanly") {
			t.Fatalf("stop: %q", r.stdout)
		}
	})
	mustVMCTL(t, state, "vm", "rm", name)
	assertNothingLeft(t, state, name)
}
