//go:build linux

package main

import (
	"context"
	"errors"
	"log"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmctl/vmctl/agent"
)

const (
	hostname   = "vmctl"
	modulesDir = "/modules"
	guestPath  = "/bin:/sbin:/usr/bin:/usr/sbin"
	// sysPCIDevices lists the PCI devices the kernel enumerated.
	sysPCIDevices = "/sys/bus/pci/devices"
)

type fsMount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

// earlyMounts come before anything else: /dev gives us a console and the
// port device, /proc and /sys the port's name and everything stats reads.
func earlyMounts() []fsMount {
	return []fsMount{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	}
}

func scratchMounts() []fsMount {
	return []fsMount{
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	}
}

// initSystem does PID 1's setup. Failures are logged and skipped: a
// half-set-up guest that still answers the host is easier to debug than a
// kernel panic.
func initSystem(ctx context.Context, logger *log.Logger) agent.BootInfo {
	var boot agent.BootInfo
	mountAll(logger, earlyMounts())
	reopenConsole(logger)
	mountAll(logger, scratchMounts())
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

func mountAll(logger *log.Logger, mounts []fsMount) {
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			logger.Printf("mkdir %s: %v", m.target, err)
			continue
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			logger.Printf("mount %s on %s: %v", m.fstype, m.target, err)
		}
	}
}

// reopenConsole points fds 0-2 at /dev/console. If the initramfs had no
// /dev/console the kernel could not give init one, and until devtmpfs is
// up there is nowhere to log.
func reopenConsole(logger *log.Logger) {
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		logger.Printf("open /dev/console: %v", err)
		return
	}
	for target := 0; target <= 2; target++ {
		if fd == target {
			continue
		}
		if err := unix.Dup3(fd, target, 0); err != nil {
			logger.Printf("dup console to fd %d: %v", target, err)
		}
	}
	if fd > 2 {
		_ = unix.Close(fd)
	}
}
