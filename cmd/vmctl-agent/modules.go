//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// loadModules loads the modules listed in dir/load-order, in order. The
// list is already in dependency order, so a failure is logged and the rest
// still tried: an unneeded module failing must not cost us the port.
func loadModules(ctx context.Context, logger *log.Logger, dir string) (loaded, failed int) {
	names, err := readLoadOrder(filepath.Join(dir, "load-order"))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			logger.Printf("modules: %v", err)
		}
		return 0, 0
	}
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		if err := loadModule(filepath.Join(dir, name)); err != nil {
			logger.Printf("modules: %v", err)
			failed++
			continue
		}
		loaded++
	}
	return loaded, failed
}

func readLoadOrder(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// Entries are file names inside the modules directory, nothing else.
		if strings.Contains(line, "/") || line == ".." {
			return nil, fmt.Errorf("%s: entry %q is not a file name", path, line)
		}
		names = append(names, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return names, nil
}

// loadModule inserts one module with finit_module(2). A module that is
// already loaded (EEXIST) counts as loaded.
func loadModule(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	flags := 0
	if isCompressedModule(path) {
		// The kernel decompresses if built to; otherwise this fails with
		// EOPNOTSUPP and the log says so.
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	if err := unix.FinitModule(fd, "", flags); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load %s: %w", filepath.Base(path), err)
	}
	return nil
}

func isCompressedModule(path string) bool {
	for _, ext := range []string{".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(path, ext) {
			return true
		}
	}
	return false
}
