//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmctl/vmctl/agent"
)

// poweroffDelay gives the reply to poweroff time to reach the host before
// the machine stops.
const poweroffDelay = 500 * time.Millisecond

// guestHandler adds the operations that change the guest itself.
type guestHandler struct {
	agent.LocalHandler
	pid1 bool
	log  *log.Logger
	// poweroff stops the machine; tests replace it.
	poweroff func() error
}

var _ agent.Handler = (*guestHandler)(nil)

// Mount mounts a virtio 9p share: the equivalent of
// mount -t 9p -o trans=virtio,version=9p2000.L[,ro] TAG TARGET.
func (h *guestHandler) Mount(ctx context.Context, req *agent.MountRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(req.Target, 0o755); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	var flags uintptr
	if req.IsReadOnly() {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount(req.Tag, req.Target, "9p", flags, "trans=virtio,version=9p2000.L"); err != nil {
		if errors.Is(err, unix.ENOENT) {
			// 9p's way of saying no device has this tag.
			err = fmt.Errorf("%w: %w", agent.ErrNotFound, err)
		}
		return fmt.Errorf("mount 9p %s on %s: %w", req.Tag, req.Target, err)
	}
	h.log.Printf("mounted 9p %s on %s (read-only %v)", req.Tag, req.Target, req.IsReadOnly())
	return nil
}

// Poweroff schedules the power-off and returns, so the reply goes out
// first. Only init may take the machine down.
func (h *guestHandler) Poweroff(context.Context) error {
	if !h.pid1 {
		return fmt.Errorf("poweroff: agent is not PID 1: %w", agent.ErrUnsupported)
	}
	h.log.Printf("powering off in %v", poweroffDelay)
	time.AfterFunc(poweroffDelay, func() {
		if err := h.poweroff(); err != nil {
			h.log.Printf("poweroff: %v", err)
		}
	})
	return nil
}

// sysACPI exists when the kernel runs with ACPI.
const sysACPI = "/sys/firmware/acpi"

func powerOffNow() error {
	unix.Sync()
	return unix.Reboot(rebootCmd(sysACPI))
}

// rebootCmd picks how to stop the machine. An x86 kernel powers off
// through ACPI; without it (vmctl's minimal kernel has none: it costs
// ~0.2 s of every boot under TCG) reboot(2) with POWER_OFF only halts the
// CPUs and the domain keeps running. vmctl's domains turn a reset into a
// stop (on_reboot=destroy), so there a restart ends the domain as a power
// off does.
func rebootCmd(acpiDir string) int {
	if _, err := os.Stat(acpiDir); err != nil {
		return unix.LINUX_REBOOT_CMD_RESTART
	}
	return unix.LINUX_REBOOT_CMD_POWER_OFF
}
