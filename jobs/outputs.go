package jobs

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Limits on a partition's output files: the tar comes from the guest.
const maxOutputEntries = 10000

// extractOutputs unpacks a partition's output tar into dir. Only plain
// files and directories are accepted, every name must stay inside dir, and
// the total is capped; anything else fails the partition rather than
// writing where the guest points.
func extractOutputs(tarball []byte, dir string) (files int, size int64, err error) {
	if len(tarball) == 0 {
		return 0, 0, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	tr := tar.NewReader(bytes.NewReader(tarball))
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, size, nil
		}
		if err != nil {
			return files, size, fmt.Errorf("output tar: %w", err)
		}
		if n >= maxOutputEntries {
			return files, size, fmt.Errorf("output has more than %d entries", maxOutputEntries)
		}
		name := filepath.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return files, size, fmt.Errorf("output entry %q escapes the output directory", h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return files, size, err
			}
		case tar.TypeReg:
			size += h.Size
			if size > maxOutputFiles {
				return files, size, fmt.Errorf("output files exceed %d MiB", maxOutputFiles>>20)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return files, size, err
			}
			// O_EXCL with the parent made by us: a second entry of the
			// same name, or a name through a directory we did not make,
			// cannot redirect the write.
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return files, size, fmt.Errorf("output entry %q: %w", h.Name, err)
			}
			_, err = io.CopyN(f, tr, h.Size)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return files, size, fmt.Errorf("output entry %q: %w", h.Name, err)
			}
			files++
		default:
			return files, size, fmt.Errorf("output entry %q is not a regular file or directory (type %q); only those come back", h.Name, h.Typeflag)
		}
	}
}
