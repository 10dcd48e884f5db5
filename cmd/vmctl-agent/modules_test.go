//go:build linux

package main

import (
	"context"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadLoadOrder(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
		wantErr bool
	}{
		{"names in order", "virtio.ko\nvirtio_ring.ko\nvirtio_console.ko.xz\n", []string{"virtio.ko", "virtio_ring.ko", "virtio_console.ko.xz"}, false},
		{"blank lines and comments", "\n# deps first\n 9p.ko \n\n", []string{"9p.ko"}, false},
		{"paths refused", "../../etc/evil.ko\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "load-order")
			writeFile(t, path, tt.content)
			got, err := readLoadOrder(path)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q, err=%v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestLoadModulesKeepsGoing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "load-order"), "missing.ko\nnot-a-module.ko\n")
	// Not ELF: finit_module refuses it (or we lack the right to try).
	writeFile(t, filepath.Join(dir, "not-a-module.ko"), "garbage")
	loaded, skipped, failed := loadModules(context.Background(), log.New(io.Discard, "", 0), dir, nil)
	if loaded != 0 || skipped != 0 || failed != 2 {
		t.Errorf("loaded %d skipped %d failed %d, want 0, 0 and 2", loaded, skipped, failed)
	}
	if loaded, skipped, failed := loadModules(context.Background(), log.New(io.Discard, "", 0), t.TempDir(), nil); loaded != 0 || skipped != 0 || failed != 0 {
		t.Errorf("without a load-order file: loaded %d skipped %d failed %d", loaded, skipped, failed)
	}
}

func TestLoadModulesSkipsWhatWantRefuses(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "load-order"), "9pnet.ko\nvirtio.ko\nvirtio_blk.ko.xz\n")
	var tried []string
	want := func(m string) bool {
		tried = append(tried, m)
		return m == "virtio"
	}
	// virtio.ko does not exist: it is attempted (and fails), the others
	// are never opened.
	loaded, skipped, failed := loadModules(context.Background(), log.New(io.Discard, "", 0), dir, want)
	if loaded != 0 || skipped != 2 || failed != 1 {
		t.Errorf("loaded %d skipped %d failed %d, want 0, 2 and 1", loaded, skipped, failed)
	}
	if !slices.Equal(tried, []string{"9pnet", "virtio", "virtio_blk"}) {
		t.Errorf("want saw %q: module names without .ko and compression suffix", tried)
	}
}

func TestModuleName(t *testing.T) {
	for file, want := range map[string]string{
		"virtio.ko": "virtio", "9pnet_virtio.ko.xz": "9pnet_virtio", "net-failover.ko.zst": "net_failover", "/modules/9p.ko": "9p",
	} {
		if got := moduleName(file); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", file, got, want)
		}
	}
}

// pciDevice writes one fake /sys/bus/pci/devices entry.
func pciDevice(t *testing.T, root, slot, vendor, device, subsys string) {
	t.Helper()
	dir := filepath.Join(root, slot)
	writeFile(t, filepath.Join(dir, "vendor"), vendor+"\n")
	writeFile(t, filepath.Join(dir, "device"), device+"\n")
	writeFile(t, filepath.Join(dir, "subsystem_device"), subsys+"\n")
}

func TestVirtioDevices(t *testing.T) {
	root := t.TempDir()
	pciDevice(t, root, "0000:00:00.0", "0x8086", "0x1237", "0x1100") // host bridge
	pciDevice(t, root, "0000:00:02.0", "0x1af4", "0x1003", "0x0003") // transitional console
	pciDevice(t, root, "0000:00:03.0", "0x1af4", "0x1009", "0x0009") // transitional 9p
	pciDevice(t, root, "0000:00:04.0", "0x1af4", "0x1042", "0x1100") // modern block
	got, err := virtioDevices(root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]bool{3: true, virtio9P: true, virtioBlock: true}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if _, err := virtioDevices(filepath.Join(root, "missing")); err == nil {
		t.Fatal("a missing sysfs directory must be an error (then every module loads)")
	}
}

func TestWantModules(t *testing.T) {
	consoleOnly := wantModules(map[int]bool{3: true})
	withShare := wantModules(map[int]bool{3: true, virtio9P: true})
	tests := []struct {
		module                 string
		consoleOnly, withShare bool
	}{
		{"virtio", true, true},
		{"virtio_ring", true, true},
		{"virtio_pci", true, true},
		{"virtio_console", true, true},
		{"9p", false, true},
		{"9pnet_virtio", false, true},
		{"fscache", false, true},
		{"netfs", false, true},
		{"virtio_blk", false, false},
		{"virtio_net", false, false},
		{"failover", false, false},
		{"virtio_rng", false, false},
		{"something_new", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			if got := consoleOnly(tt.module); got != tt.consoleOnly {
				t.Errorf("console only: want(%s) = %v", tt.module, got)
			}
			if got := withShare(tt.module); got != tt.withShare {
				t.Errorf("console and share: want(%s) = %v", tt.module, got)
			}
		})
	}
	if wantModules(nil) != nil || wantModules(map[int]bool{}) != nil {
		t.Error("no virtio device seen: every module must load")
	}
}

func TestIsCompressedModule(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"virtio.ko", false},
		{"virtio.ko.xz", true},
		{"virtio.ko.zst", true},
		{"virtio.ko.gz", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isCompressedModule(tt.name); got != tt.want {
				t.Errorf("isCompressedModule(%q) = %v", tt.name, got)
			}
		})
	}
}
