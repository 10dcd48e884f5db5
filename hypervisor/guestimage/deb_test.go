package guestimage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestClassifyEntry(t *testing.T) {
	tests := []struct {
		name     string
		wantKind entryKind
		wantRel  string
	}{
		{"./boot/vmlinuz-6.1.0-56-amd64", entryKernel, "6.1.0-56-amd64"},
		{"boot/config-6.1.0-56-amd64", entryConfig, "6.1.0-56-amd64"},
		{"./boot/System.map-6.1.0-56-amd64", entryOther, ""},
		{"./lib/modules/6.1.0-56-amd64/modules.builtin", entryBuiltin, "6.1.0-56-amd64"},
		{"./lib/modules/6.1.0-56-amd64/modules.builtin.modinfo", entryOther, ""},
		{"./lib/modules/6.1.0-56-amd64/kernel/fs/9p/9p.ko", entryModule, "6.1.0-56-amd64"},
		{"./usr/lib/modules/6.12.0-1-amd64/kernel/fs/9p/9p.ko.xz", entryModule, "6.12.0-1-amd64"},
		{"./lib/modules/6.1.0-56-amd64/kernel/net/9p/9pnet.ko.zst", entryModule, "6.1.0-56-amd64"},
		{"./lib/modules/6.1.0-56-amd64/kernel/drivers/kobject/README", entryOther, ""},
		{"./usr/share/doc/linux-image-6.1.0-56-amd64/changelog.gz", entryOther, ""},
		{"./boot/vmlinuz-", entryOther, ""},
		{"./lib/modules/x.ko", entryOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, rel := classifyEntry(tt.name)
			if kind != tt.wantKind || rel != tt.wantRel {
				t.Errorf("classifyEntry = %v, %q; want %v, %q", kind, rel, tt.wantKind, tt.wantRel)
			}
		})
	}
}

func TestParseControl(t *testing.T) {
	got := parseControl([]byte("Package: linux-image-6.1.0-56-amd64\nSource: linux-signed-amd64 (6.1.192+2)\nVersion: 6.1.192-2\nArchitecture: amd64\nDescription: Linux 6.1\n Version: not this one\n"))
	want := debControl{Package: "linux-image-6.1.0-56-amd64", Version: "6.1.192-2", Architecture: "amd64"}
	if got != want {
		t.Errorf("parseControl = %+v, want %+v", got, want)
	}
}

func scanTestDeb(t *testing.T, spec debSpec) (*kernelPackage, string, error) {
	t.Helper()
	dir := t.TempDir()
	deb := makeDeb(t, dir, spec)
	out, scratch := filepath.Join(dir, "out"), filepath.Join(dir, "scratch")
	for _, d := range []string{out, scratch} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pkg, err := scanKernelDeb(context.Background(), deb, out, scratch, logrus.New())
	if pkg != nil {
		t.Cleanup(func() { pkg.Close() })
	}
	return pkg, out, err
}

func TestScanKernelDeb(t *testing.T) {
	for _, comp := range []string{compXZ, compGzip} {
		t.Run("data.tar "+comp, func(t *testing.T) {
			spec := defaultDebSpec(t)
			spec.compression = comp
			pkg, out, err := scanTestDeb(t, spec)
			if err != nil {
				t.Fatal(err)
			}
			if pkg.Release != testRelease {
				t.Errorf("release = %q", pkg.Release)
			}
			wantCtl := debControl{Package: "linux-image-" + testRelease, Version: spec.version, Architecture: "amd64"}
			if pkg.Control != wantCtl {
				t.Errorf("control = %+v, want %+v", pkg.Control, wantCtl)
			}
			if bz, _ := os.ReadFile(filepath.Join(out, fileBzImage)); !bytes.Equal(bz, spec.bzImage) {
				t.Errorf("bzImage not extracted intact")
			}
			if cfg, _ := os.ReadFile(filepath.Join(out, fileConfig)); string(cfg) != spec.config {
				t.Errorf("config not extracted intact")
			}
			if len(pkg.Modules) != len(spec.modules) {
				t.Errorf("found %d modules, want %d", len(pkg.Modules), len(spec.modules))
			}
			if !pkg.Builtin["mem"] || !pkg.Builtin["crc32c_generic"] {
				t.Errorf("builtin = %v", pkg.Builtin)
			}
			// virtio-rng.ko is found under its modinfo name.
			data, err := pkg.moduleData("virtio_rng")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, spec.modules["drivers/char/hw_random/virtio-rng.ko"]) {
				t.Errorf("virtio_rng bytes differ")
			}
			if info := pkg.Modules["virtio_pci"].Info; !slices.Equal(info.Depends, []string{"virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio"}) {
				t.Errorf("virtio_pci depends = %v", info.Depends)
			}
			if pkg.SHA256 == "" {
				t.Error("no sha256")
			}
		})
	}
}

func TestScanKernelDebCompressedModules(t *testing.T) {
	spec := defaultDebSpec(t)
	plain := spec.modules["drivers/virtio/virtio.ko"]
	delete(spec.modules, "drivers/virtio/virtio.ko")
	spec.modules["drivers/virtio/virtio.ko.xz"] = xzStore(t, plain, false)
	ring := spec.modules["drivers/virtio/virtio_ring.ko"]
	delete(spec.modules, "drivers/virtio/virtio_ring.ko")
	spec.modules["drivers/virtio/virtio_ring.ko.gz"] = gzipBytes(t, ring)
	spec.modules["drivers/virtio/virtio_mem.ko.zst"] = []byte{0x28, 0xb5, 0x2f, 0xfd}

	pkg, _, err := scanTestDeb(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"virtio": plain, "virtio_ring": ring} {
		got, err := pkg.moduleData(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s not decompressed intact", name)
		}
	}
	if _, err := pkg.moduleData("virtio_mem"); !errors.Is(err, ErrUnsupportedCompression) {
		t.Errorf("zstd module: err = %v, want ErrUnsupportedCompression", err)
	}
	if _, ok := pkg.moduleInfos()["virtio_mem"]; !ok {
		t.Errorf("unsupported module should still resolve, to fail precisely when loaded")
	}
}

func TestScanKernelDebErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*debSpec)
		wantErr error
		mention string
	}{
		{name: "zstd data.tar", edit: func(s *debSpec) { s.compression = compZstd }, wantErr: ErrUnsupportedCompression, mention: "zstd"},
		{name: "no kernel", edit: func(s *debSpec) { s.bzImage = nil }, wantErr: ErrBadKernelPackage, mention: "vmlinuz"},
		{name: "broken module", edit: func(s *debSpec) { s.modules["drivers/virtio/virtio.ko"] = []byte("garbage") }, wantErr: ErrBadKernelPackage, mention: "virtio.ko"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := defaultDebSpec(t)
			tt.edit(&spec)
			_, _, err := scanTestDeb(t, spec)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.wantErr, tt.mention)
			}
		})
	}
}

func TestScanKernelDebNotAnArchive(t *testing.T) {
	dir := t.TempDir()
	deb := writeFile(t, dir, "x.deb", []byte("PK\x03\x04 a zip file, not a deb"))
	_, err := scanKernelDeb(context.Background(), deb, dir, dir, logrus.New())
	if !errors.Is(err, ErrBadKernelPackage) {
		t.Fatalf("err = %v, want ErrBadKernelPackage", err)
	}
}

func TestScanKernelDebHonoursContext(t *testing.T) {
	dir := t.TempDir()
	deb := makeDeb(t, dir, defaultDebSpec(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := scanKernelDeb(ctx, deb, dir, dir, logrus.New())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
