//go:build linux

package guest

import (
	"errors"
	"log"
	"os"

	"golang.org/x/sys/unix"
)

// Mount is one filesystem init mounts.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
}

// EarlyMounts come before anything else: /dev gives us a console and the
// port device, /proc and /sys the port's name and everything stats reads.
func EarlyMounts() []Mount {
	return []Mount{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	}
}

// ScratchMounts are the writable tmpfs directories commands expect.
func ScratchMounts() []Mount {
	return []Mount{
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	}
}

// MountAll mounts each of mounts, creating its target. Failures are logged
// and skipped (one already mounted is not a failure): a half-set-up guest
// that still answers the host is easier to debug than a kernel panic.
func MountAll(logger *log.Logger, mounts []Mount) {
	for _, m := range mounts {
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			logger.Printf("mkdir %s: %v", m.Target, err)
			continue
		}
		err := unix.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			logger.Printf("mount %s on %s: %v", m.FSType, m.Target, err)
		}
	}
}

// ReopenConsole points fds 0-2 at /dev/console. If the initramfs had no
// /dev/console the kernel could not give init one, and until devtmpfs is
// up there is nowhere to log.
func ReopenConsole(logger *log.Logger) {
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
