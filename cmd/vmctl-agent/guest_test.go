//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"log"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmctl/vmctl/agent"
)

func TestGuestHandlerPoweroff(t *testing.T) {
	tests := []struct {
		name    string
		pid1    bool
		wantErr error
		wantOff bool
	}{
		{name: "refused unless PID 1", pid1: false, wantErr: agent.ErrUnsupported},
		{name: "replies first, then powers off", pid1: true, wantOff: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off := make(chan time.Time, 1)
			h := &guestHandler{pid1: tt.pid1, log: log.New(io.Discard, "", 0), poweroff: func() error {
				off <- time.Now()
				return nil
			}}
			replied := time.Now()
			err := h.Poweroff(context.Background())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			select {
			case at := <-off:
				if !tt.wantOff {
					t.Fatal("powered off without being PID 1")
				}
				if at.Sub(replied) < poweroffDelay/2 {
					t.Errorf("powered off %v after replying; the reply needs time to leave", at.Sub(replied))
				}
			case <-time.After(2 * poweroffDelay):
				if tt.wantOff {
					t.Fatal("never powered off")
				}
			}
		})
	}
}

func TestRebootCmd(t *testing.T) {
	dir := t.TempDir()
	if got := rebootCmd(dir); got != unix.LINUX_REBOOT_CMD_POWER_OFF {
		t.Errorf("with ACPI: %#x, want POWER_OFF", got)
	}
	if got := rebootCmd(filepath.Join(dir, "absent")); got != unix.LINUX_REBOOT_CMD_RESTART {
		t.Errorf("without ACPI: %#x, want RESTART (on_reboot=destroy stops the domain)", got)
	}
}

// TestGuestHandlerMountFailure checks what can be checked without a 9p
// device: the target is created and the failure reported, not hidden.
func TestGuestHandlerMountFailure(t *testing.T) {
	h := &guestHandler{log: log.New(io.Discard, "", 0)}
	target := filepath.Join(t.TempDir(), "share", "deep")
	err := h.Mount(context.Background(), &agent.MountRequest{Tag: "vmctl-no-such-tag", Target: target})
	if err == nil {
		t.Fatal("mounting a tag no device offers succeeded")
	}
	if fi, statErr := os.Stat(target); statErr != nil || !fi.IsDir() {
		t.Errorf("target not created: %v", statErr)
	}
}
