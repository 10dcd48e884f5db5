package scheduler

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// processStart reads a process's start time (clock ticks after boot, field
// 22 of /proc/<pid>/stat). Together with the pid it names one process
// for good: a pid the kernel reuses comes with another start time.
func processStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// ')', so fields are counted from the last ')'.
	s := string(b)
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

// processAlive reports whether the process that wrote a claim still runs.
// A start time of 0 (unknown when the claim was written) falls back to
// asking whether the pid exists. When it cannot tell, it says alive: a
// claim kept too long only delays a create until its TTL, one dropped too
// early can over-admit a host.
func processAlive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	if start != 0 {
		got, err := processStart(pid)
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
