package guestimage

import (
	"bytes"
	"encoding/json"
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
	fileInitramfs = "initramfs.cpio"
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

// copyFile copies src to dst, which must not exist.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := writeNewFile(dst, in); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// writeJSONFile writes v, indented, as the new file path.
func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	if err := writeNewFile(path, bytes.NewReader(append(data, '\n'))); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// linkOrCopy hard-links src as dst, or copies it when they are on different
// filesystems (or links are refused). Used for files nobody rewrites in
// place: a minimal kernel shared by several images.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return copyFile(src, dst)
}
