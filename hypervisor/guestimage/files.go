package guestimage

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Names of the files in an image directory.
const (
	fileBzImage   = "bzImage"
	fileVmlinux   = "vmlinux"
	fileInitramfs = "initramfs.cpio.gz"
	fileConfig    = "config"
	fileManifest  = "manifest.json"
)

// Permissions of everything in the cache: QEMU reads images as
// libvirt-qemu, so they must be world-readable whatever the umask.
const (
	dirMode  fs.FileMode = 0o755
	fileMode fs.FileMode = 0o644
)

// writeNewFile creates path (which must not exist) with the content of r.
func writeNewFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// makePublic sets dirMode/fileMode on dir and everything in it; done once
// before publishing instead of after every create, so no file is missed.
func makePublic(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fileMode
		if d.IsDir() {
			mode = dirMode
		}
		if err := os.Chmod(p, mode); err != nil {
			return fmt.Errorf("make %s world-readable: %w", p, err)
		}
		return nil
	})
}

// syncDir flushes dir's files and then dir itself to disk.
func syncDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := syncPath(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return syncPath(dir)
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return nil
}
