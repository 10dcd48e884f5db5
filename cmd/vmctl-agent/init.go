//go:build linux

package main

import (
	"context"
	"log"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/internal/guest"
)

const (
	hostname   = "vmctl"
	modulesDir = "/modules"
	guestPath  = "/bin:/sbin:/usr/bin:/usr/sbin"
	// sysPCIDevices lists the PCI devices the kernel enumerated.
	sysPCIDevices = "/sys/bus/pci/devices"
)

// initSystem does PID 1's setup. Failures are logged and skipped: a
// half-set-up guest that still answers the host is easier to debug than a
// kernel panic.
func initSystem(ctx context.Context, logger *log.Logger) agent.BootInfo {
	var boot agent.BootInfo
	guest.MountAll(logger, guest.EarlyMounts())
	guest.ReopenConsole(logger)
	guest.MountAll(logger, guest.ScratchMounts())
	if err := os.MkdirAll("/mnt", 0o755); err != nil {
		logger.Printf("mkdir /mnt: %v", err)
	}
	if err := os.Setenv("PATH", guestPath); err != nil {
		logger.Printf("set PATH: %v", err)
	}
	if os.Getenv("HOME") == "" {
		_ = os.Setenv("HOME", "/")
	}

	began := time.Now()
	devices, err := virtioDevices(sysPCIDevices)
	if err != nil {
		logger.Printf("modules: %v; loading all of them", err)
	}
	boot.ModulesLoaded, boot.ModulesSkipped, boot.ModulesFailed = loadModules(ctx, logger, modulesDir, wantModules(devices))
	boot.ModulesTime = time.Since(began)
	logger.Printf("modules: %d loaded, %d skipped (no such device), %d failed, in %d ms",
		boot.ModulesLoaded, boot.ModulesSkipped, boot.ModulesFailed, boot.ModulesTime.Milliseconds())

	if err := unix.Sethostname([]byte(hostname)); err != nil {
		logger.Printf("set hostname: %v", err)
	}
	return boot
}
