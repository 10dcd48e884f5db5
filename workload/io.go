package workload

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

func ioBuiltin() *builtin {
	return &builtin{
		name: "io",
		help: "write and fsync a new file, a file in a directory, or a block device",
		flags: []flagSpec{
			{name: "path", kind: stringFlag, required: true, help: "directory, new file, or block device (with --device true)"},
			{name: "mib", kind: intFlag, def: "256", min: 1, max: 1 << 24, help: "MiB to write"},
			{name: "block-kib", kind: intFlag, def: "1024", min: 1, max: 1 << 20, help: "KiB per write"},
			{name: "fsync-every-mib", kind: intFlag, def: "0", max: 1 << 24, help: "also fsync after every this many MiB; 0: only at the end"},
			{name: "device", kind: boolFlag, def: "false", help: "allow writing over a block device"},
		},
		check: func(a *args) error {
			if a.str("path") == "" {
				return badFlag(a.builtin, "path", "empty")
			}
			return nil
		},
		run: runIO,
	}
}

func runIO(ctx context.Context, a *args, p partition) (res Result, err error) {
	total := a.int("mib") << 20
	f, created, err := openIOTarget(a, total)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("workload: io: close: %w", cerr)
		}
		if created == "" {
			return
		}
		if rerr := os.Remove(created); rerr != nil && err == nil {
			err = fmt.Errorf("workload: io: remove: %w", rerr)
		}
	}()

	block := make([]byte, a.int("block-kib")<<10)
	_, _ = newData("vmctl io", p.index).Read(block)
	syncEvery := a.int("fsync-every-mib") << 20
	var written, unsynced, syncs int64
	began := time.Now()
	for written < total {
		if err := canceled(ctx, a.builtin); err != nil {
			return Result{}, err
		}
		// A distinct stamp per block keeps deduplicating or compressing
		// storage from making the numbers look better than the disk.
		binary.LittleEndian.PutUint64(block, uint64(written))
		n, err := f.Write(block[:min(int64(len(block)), total-written)])
		written += int64(n)
		unsynced += int64(n)
		if err != nil {
			return Result{}, fmt.Errorf("workload: io: write %s: %w", f.Name(), err)
		}
		if syncEvery > 0 && unsynced >= syncEvery {
			if err := f.Sync(); err != nil {
				return Result{}, fmt.Errorf("workload: io: fsync %s: %w", f.Name(), err)
			}
			syncs++
			unsynced = 0
		}
	}
	if unsynced > 0 {
		if err := f.Sync(); err != nil {
			return Result{}, fmt.Errorf("workload: io: fsync %s: %w", f.Name(), err)
		}
		syncs++
	}
	took := time.Since(began)
	return Result{
		Value:   mbPerSecond(written, took),
		Unit:    UnitMBps,
		Bytes:   written,
		Ops:     syncs,
		Seconds: took.Seconds(),
	}, nil
}

// openIOTarget opens what --path names for writing and returns the name
// of the file it created, if any, for removal. It never overwrites an
// existing file, and a block device only with --device true.
func openIOTarget(a *args, total int64) (f *os.File, created string, err error) {
	path, device := a.str("path"), a.bool("device")
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if device {
			return nil, "", badFlag(a.builtin, "device", "%s does not exist, so it is no block device", path)
		}
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, "", fmt.Errorf("workload: io: %w", err)
		}
		return f, path, nil
	case err != nil:
		return nil, "", fmt.Errorf("workload: io: %w", err)
	case fi.IsDir():
		if device {
			return nil, "", badFlag(a.builtin, "device", "%s is a directory, not a block device", path)
		}
		f, err = os.CreateTemp(path, "vmctl-io-*.dat")
		if err != nil {
			return nil, "", fmt.Errorf("workload: io: %w", err)
		}
		return f, f.Name(), nil
	case fi.Mode()&fs.ModeDevice != 0 && fi.Mode()&fs.ModeCharDevice == 0:
		if !device {
			return nil, "", badFlag(a.builtin, "path", "%s is a block device and writing destroys its contents; add --device true to allow it", path)
		}
		return openBlockDevice(a, path, total)
	case fi.Mode().IsRegular():
		return nil, "", badFlag(a.builtin, "path", "%s exists and is never overwritten; give a directory or a new file name", path)
	}
	return nil, "", badFlag(a.builtin, "path", "%s is not a directory, a new file or a block device", path)
}

func openBlockDevice(a *args, path string, total int64) (*os.File, string, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, "", fmt.Errorf("workload: io: %w", err)
	}
	// Seeking to the end is how Linux reports a block device's size.
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("workload: io: size of %s: %w", path, err)
	}
	if size < total {
		f.Close()
		return nil, "", badFlag(a.builtin, "mib", "%d MiB is more than %s holds (%d bytes)", total>>20, path, size)
	}
	return f, "", nil
}
