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
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// loadModules loads the modules listed in dir/load-order, in order, that
// want accepts (nil: all). The list is already in dependency order, so a
// failure is logged and the rest still tried: an unneeded module failing
// must not cost us the port.
func loadModules(ctx context.Context, logger *log.Logger, dir string, want func(module string) bool) (loaded, skipped, failed int) {
	names, err := readLoadOrder(filepath.Join(dir, "load-order"))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			logger.Printf("modules: %v", err)
		}
		return 0, 0, 0
	}
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		if want != nil && !want(moduleName(name)) {
			skipped++
			continue
		}
		if err := loadModule(filepath.Join(dir, name)); err != nil {
			logger.Printf("modules: %v", err)
			failed++
			continue
		}
		loaded++
	}
	return loaded, skipped, failed
}

// moduleName is the kernel's name for a module file: "9pnet_virtio" for
// 9pnet_virtio.ko or 9pnet-virtio.ko.xz.
func moduleName(file string) string {
	name := filepath.Base(file)
	if i := strings.Index(name, ".ko"); i >= 0 {
		name = name[:i]
	}
	return strings.ReplaceAll(name, "-", "_")
}

// Virtio device types (virtio 1.2, section 5) whose drivers the image
// carries as modules the guest may not need.
const (
	virtioNet   = 1
	virtioBlock = 2
	virtioRNG   = 4
	virtio9P    = 9
)

// moduleDevice names the virtio device a module exists for. Such a module
// is loaded only when the guest has that device: under emulation every
// module costs its relocation and init (the 9p stack alone is about a
// tenth of a second), and most VMs have no share, scratch disk, NIC or
// RNG. Every other module (the virtio core, the PCI transport, the
// console the agent's port needs, anything unknown) is always loaded.
func moduleDevice(module string) (int, bool) {
	switch module {
	case "virtio_net", "net_failover", "failover":
		return virtioNet, true
	case "virtio_blk":
		return virtioBlock, true
	case "virtio_rng":
		return virtioRNG, true
	case "9p", "9pnet", "9pnet_virtio", "netfs", "fscache":
		return virtio9P, true
	}
	return 0, false
}

// Virtio PCI IDs: vendor 0x1af4; modern devices are 0x1040 + type,
// transitional ones 0x1000-0x103f with the type as subsystem device ID.
const (
	virtioVendor          = 0x1af4
	virtioTransitionalMin = 0x1000
	virtioTransitionalMax = 0x103f
	virtioModernBase      = 0x1040
	virtioModernMax       = 0x107f
)

// virtioDevices returns the virtio device types on the PCI bus, read from
// sysPCI (/sys/bus/pci/devices). The PCI core enumerates the bus before
// init runs, so this works before any virtio module is loaded.
func virtioDevices(sysPCI string) (map[int]bool, error) {
	entries, err := os.ReadDir(sysPCI)
	if err != nil {
		return nil, fmt.Errorf("pci devices: %w", err)
	}
	types := map[int]bool{}
	for _, e := range entries {
		dir := filepath.Join(sysPCI, e.Name())
		vendor, err := readHexFile(filepath.Join(dir, "vendor"))
		if err != nil || vendor != virtioVendor {
			continue
		}
		device, err := readHexFile(filepath.Join(dir, "device"))
		if err != nil {
			continue
		}
		switch {
		case device >= virtioModernBase && device <= virtioModernMax:
			types[int(device-virtioModernBase)] = true
		case device >= virtioTransitionalMin && device <= virtioTransitionalMax:
			if sub, err := readHexFile(filepath.Join(dir, "subsystem_device")); err == nil {
				types[int(sub)] = true
			}
		}
	}
	return types, nil
}

func readHexFile(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), 16, 32)
}

// wantModules decides which modules to load from the virtio devices
// present. No virtio device at all means the scan saw nothing useful (or
// the devices sit on another bus): then everything is loaded.
func wantModules(present map[int]bool) func(module string) bool {
	if len(present) == 0 {
		return nil
	}
	return func(module string) bool {
		dev, ok := moduleDevice(module)
		return !ok || present[dev]
	}
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
