package guestimage

import (
	"fmt"
	"io"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// initramfsDirs are created empty (parents first) as mount points and for
// the agent's and applets' use.
func initramfsDirs() []string {
	return []string{"bin", "dev", "etc", "mnt", "modules", "proc", "root", "run", "sbin", "sys", "tmp", "usr", "usr/bin", "usr/sbin", "var"}
}

// Paths inside the initramfs that the agent relies on.
const (
	initramfsModulesDir = "modules"
	initramfsLoadOrder  = "modules/load-order"
)

// moduleBlob is one module to put into the initramfs.
type moduleBlob struct {
	Name string
	Data []byte
}

// initramfsContent is everything that goes into the archive.
type initramfsContent struct {
	Agent   []byte
	Busybox []byte
	Applets []string
	Modules []moduleBlob // in load order
}

// writeInitramfs writes content as an uncompressed newc cpio archive.
// Entries carry uid/gid 0 and mtime 0, so the same inputs give the same
// bytes.
//
// Uncompressed because the guest pays for decompression at every boot and
// the host only once for the file: under TCG, inflating the gzip'd archive
// (2.5 MB, 5.4 MB unpacked with the minimal kernel) took ~150 ms of a
// 1.5 s boot, and ~90 ms with Debian's kernel. QEMU keeps a copy of the
// initrd per VM, so this costs about 3-4 MB of host memory per VM.
func writeInitramfs(w io.Writer, c initramfsContent) error {
	cw := cpio.NewWriter(w)
	add := func(name string, mode cpio.FileMode, body []byte) error {
		hdr := &cpio.Header{Name: name, Mode: mode, Size: int64(len(body))}
		if err := cw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write initramfs entry %s: %w", name, err)
		}
		if _, err := cw.Write(body); err != nil {
			return fmt.Errorf("write initramfs entry %s: %w", name, err)
		}
		return nil
	}

	for _, d := range initramfsDirs() {
		if err := add(d, cpio.TypeDir|0o755, nil); err != nil {
			return err
		}
	}
	if err := add("init", cpio.TypeReg|0o755, c.Agent); err != nil {
		return err
	}
	if err := add("bin/busybox", cpio.TypeReg|0o755, c.Busybox); err != nil {
		return err
	}
	for _, a := range c.Applets {
		// newc stores a symlink's target as its body.
		if err := add("bin/"+a, cpio.TypeSymlink|0o777, []byte("busybox")); err != nil {
			return err
		}
	}
	var order strings.Builder
	for _, m := range c.Modules {
		base := m.Name + ".ko"
		if err := add(initramfsModulesDir+"/"+base, cpio.TypeReg|0o644, m.Data); err != nil {
			return err
		}
		order.WriteString(base + "\n")
	}
	if err := add(initramfsLoadOrder, cpio.TypeReg|0o644, []byte(order.String())); err != nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("close initramfs cpio: %w", err)
	}
	return nil
}
