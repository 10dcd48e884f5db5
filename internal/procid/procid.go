// Package procid names a process for good: its pid, its start time and the
// boot it runs in. A pid alone is not enough, since the kernel reuses pids;
// a pid with its start time (clock ticks after boot) names one process of
// one boot, and the kernel's boot id tells two boots apart.
//
// The claim store (scheduler) and the owner of a VM (hypervisor) both use
// it to tell whether the vmctl process that wrote a record still runs.
package procid

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// BootIDPath holds the kernel's random id of the current boot.
const BootIDPath = "/proc/sys/kernel/random/boot_id"

// Start reads a process's start time (clock ticks after boot, field 22 of
// /proc/<pid>/stat). Together with the pid it names one process for good:
// a pid the kernel reuses comes with another start time.
func Start(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStart(pid, string(b))
}

func parseStart(pid int, s string) (uint64, error) {
	// The command name (field 2) is in parentheses and may hold spaces or
	// ')', so fields are counted from the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no command field", pid)
	}
	fields := strings.Fields(s[i+1:])
	const startField = 22 - 3 // fields[0] is field 3 (state)
	if len(fields) <= startField {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	start, err := strconv.ParseUint(fields[startField], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat starttime: %w", pid, err)
	}
	return start, nil
}

// Alive reports whether the process pid with start time start still runs.
// A start time of 0 (unknown when the record was written) falls back to
// asking whether the pid exists. When it cannot tell, it says alive: every
// caller would rather keep a record too long than drop a live one.
func Alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	if start != 0 {
		got, err := Start(pid)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return false
		case err != nil:
			return true
		}
		return got == start
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// BootID is the kernel's id of the current boot: it changes on every
// reboot, so a process recorded under another boot id is gone.
func BootID() (string, error) {
	b, err := os.ReadFile(BootIDPath)
	if err != nil {
		return "", fmt.Errorf("boot id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
