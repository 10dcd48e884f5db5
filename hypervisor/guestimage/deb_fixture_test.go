package guestimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/blakesmith/ar"
)

// makeBzImage wraps payload in a bzImage with setupSects setup sectors and
// the payload placed payloadOff bytes into the protected-mode code.
func makeBzImage(t *testing.T, setupSects byte, payloadOff int, payload []byte) []byte {
	t.Helper()
	pm := (int(setupSects) + 1) * 512
	if setupSects == 0 {
		pm = 5 * 512
	}
	img := make([]byte, pm+payloadOff+len(payload)+16)
	img[bzSetupSects] = setupSects
	binary.LittleEndian.PutUint16(img[bzBootFlag:], 0xaa55)
	copy(img[bzHeaderMagic:], "HdrS")
	binary.LittleEndian.PutUint16(img[bzVersion:], 0x020f)
	binary.LittleEndian.PutUint32(img[bzPayloadOffset:], uint32(payloadOff))
	binary.LittleEndian.PutUint32(img[bzPayloadLength:], uint32(len(payload)))
	copy(img[pm+payloadOff:], payload)
	return img
}

// kernelPayload compresses vmlinux the way the kernel's build does: for xz
// the stream is followed by the 4-byte uncompressed size.
func kernelPayload(t *testing.T, comp string, vmlinux []byte) []byte {
	t.Helper()
	switch comp {
	case compGzip:
		return gzipBytes(t, vmlinux)
	case compXZ:
		out := xzStore(t, vmlinux, true)
		return binary.LittleEndian.AppendUint32(out, uint32(len(vmlinux)))
	case compZstd:
		return append([]byte{0x28, 0xb5, 0x2f, 0xfd}, vmlinux...)
	}
	t.Fatalf("no payload encoder for %s", comp)
	return nil
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarFile is one regular file for makeTar.
type tarFile struct {
	name string
	data []byte
}

func makeTar(t *testing.T, files []tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		// dpkg-deb lists directories too; include them to be realistic.
		for d := filepath.Dir(f.name); d != "." && d != "/" && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Name: "./" + d + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: "./" + f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// debSpec describes a synthetic kernel .deb.
type debSpec struct {
	release     string
	version     string
	config      string
	bzImage     []byte            // nil: no boot/vmlinuz-*
	modules     map[string][]byte // path under lib/modules/<release>/kernel/ -> content
	builtin     []string          // modules.builtin lines
	compression string            // of data.tar: "xz", "gzip", "zstd"
}

// testRelease is the release of the synthetic kernel.
const testRelease = "6.1.0-99-amd64"

func defaultDebSpec(t *testing.T) debSpec {
	t.Helper()
	return debSpec{
		release: testRelease,
		version: "6.1.999-1",
		config:  "CONFIG_X86_64=y\nCONFIG_PVH=y\nCONFIG_INITRAMFS_SOURCE=\"\"\n# CONFIG_MODULE_COMPRESS_XZ is not set\n",
		bzImage: makeBzImage(t, 27, 0x3d8, kernelPayload(t, compGzip, makeVmlinux(t, true))),
		modules: map[string][]byte{
			// Dependencies before and after their users, as in Debian.
			"drivers/block/virtio_blk.ko":             makeModule(t, "virtio_blk", "virtio", "virtio_ring"),
			"drivers/char/hw_random/virtio-rng.ko":    makeModule(t, "virtio_rng", "virtio", "virtio_ring"),
			"drivers/char/virtio_console.ko":          makeModule(t, "virtio_console", "virtio", "virtio_ring"),
			"drivers/net/net_failover.ko":             makeModule(t, "net_failover", "failover"),
			"drivers/net/virtio_net.ko":               makeModule(t, "virtio_net", "net_failover", "virtio", "virtio_ring"),
			"drivers/virtio/virtio.ko":                makeModule(t, "virtio", "virtio_ring"),
			"drivers/virtio/virtio_balloon.ko":        makeModule(t, "virtio_balloon", "virtio", "virtio_ring"),
			"drivers/virtio/virtio_pci.ko":            makeModule(t, "virtio_pci", "virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio"),
			"drivers/virtio/virtio_pci_legacy_dev.ko": makeModule(t, "virtio_pci_legacy_dev"),
			"drivers/virtio/virtio_pci_modern_dev.ko": makeModule(t, "virtio_pci_modern_dev"),
			"drivers/virtio/virtio_ring.ko":           makeModule(t, "virtio_ring"),
			"fs/9p/9p.ko":                             makeModule(t, "9p", "9pnet", "fscache", "netfs"),
			"fs/fscache/fscache.ko":                   makeModule(t, "fscache", "netfs"),
			"fs/netfs/netfs.ko":                       makeModule(t, "netfs"),
			"net/9p/9pnet.ko":                         makeModule(t, "9pnet"),
			"net/9p/9pnet_virtio.ko":                  makeModule(t, "9pnet_virtio", "virtio", "9pnet", "virtio_ring"),
			"net/core/failover.ko":                    makeModule(t, "failover"),
		},
		builtin:     []string{"kernel/drivers/char/mem.ko", "kernel/crypto/crc32c_generic.ko"},
		compression: compXZ,
	}
}

// makeDeb writes spec as a .deb under dir and returns its path.
func makeDeb(t *testing.T, dir string, spec debSpec) string {
	t.Helper()
	pkg := "linux-image-" + spec.release
	control := makeTar(t, []tarFile{{"control", []byte(fmt.Sprintf(
		"Package: %s\nSource: linux-signed-amd64\nVersion: %s\nArchitecture: amd64\nDescription: Linux for tests\n multi-line\n", pkg, spec.version))}})

	files := []tarFile{
		{"boot/System.map-" + spec.release, []byte("ffffffff81000000 T _text\n")},
		{"boot/config-" + spec.release, []byte(spec.config)},
	}
	if spec.bzImage != nil {
		files = append(files, tarFile{"boot/vmlinuz-" + spec.release, spec.bzImage})
	}
	paths := make([]string, 0, len(spec.modules))
	for p := range spec.modules {
		paths = append(paths, p)
	}
	// Sorted, like dpkg-deb's archive order.
	slices.Sort(paths)
	for _, p := range paths {
		files = append(files, tarFile{"lib/modules/" + spec.release + "/kernel/" + p, spec.modules[p]})
	}
	if spec.builtin != nil {
		files = append(files, tarFile{"lib/modules/" + spec.release + "/modules.builtin", []byte(strings.Join(spec.builtin, "\n") + "\n")})
	}
	files = append(files, tarFile{"usr/share/doc/" + pkg + "/copyright", []byte("GPL-2\n")})
	data := makeTar(t, files)

	var dataName string
	switch spec.compression {
	case compXZ:
		dataName, data = "data.tar.xz", xzStore(t, data, false)
	case compGzip:
		dataName, data = "data.tar.gz", gzipBytes(t, data)
	case compZstd:
		dataName, data = "data.tar.zst", append([]byte{0x28, 0xb5, 0x2f, 0xfd}, data...)
	default:
		t.Fatalf("makeDeb: compression %q", spec.compression)
	}

	path := filepath.Join(dir, fmt.Sprintf("%s_%s_amd64.deb", pkg, spec.version))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := ar.NewWriter(f)
	if err := w.WriteGlobalHeader(); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name string
		data []byte
	}{
		{"debian-binary", []byte("2.0\n")},
		{"control.tar.gz", gzipBytes(t, control)},
		{dataName, data},
	} {
		if err := w.WriteHeader(&ar.Header{Name: m.name, Size: int64(len(m.data)), Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	return path
}
