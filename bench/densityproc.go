package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ProcMemory is a process's resident memory from smaps_rollup.
type ProcMemory struct {
	// RSS counts every resident page the process maps, shared or not.
	RSS uint64 `json:"rss_bytes"`
	// PSS divides each shared page among the processes mapping it, so the
	// PSS of all QEMU processes adds up to what they cost the host.
	PSS uint64 `json:"pss_bytes"`
}

// ProcFS reads host processes and memory from a procfs mount.
type ProcFS struct {
	// Root is where procfs is mounted ("/proc"; a directory in tests).
	Root string
}

var _ HostProc = ProcFS{}

// ticksPerSecond is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// It is part of the kernel ABI and 100 on every architecture Linux supports
// (which is why sysconf(_SC_CLK_TCK) is a constant), so it is not probed.
const ticksPerSecond = 100

// Memory reads Rss and Pss from /proc/PID/smaps_rollup (Linux 4.14+), which
// sums smaps over all mappings in the kernel instead of making us parse
// thousands of per-mapping entries of a QEMU process.
func (p ProcFS) Memory(pid int) (ProcMemory, error) {
	data, err := os.ReadFile(filepath.Join(p.Root, strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return ProcMemory{}, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	kb, err := kbFields(data, "Rss:", "Pss:")
	if err != nil {
		return ProcMemory{}, fmt.Errorf("memory of pid %d: smaps_rollup: %w", pid, err)
	}
	return ProcMemory{RSS: kb[0] << 10, PSS: kb[1] << 10}, nil
}

// CPUTime is utime+stime of the whole process (all its threads: the vCPU
// threads, the main loop and I/O threads) from /proc/PID/stat.
func (p ProcFS) CPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join(p.Root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("cpu time of pid %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may itself hold
	// spaces and ')': the fields that follow start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("cpu time of pid %d: malformed stat %q", pid, clipStat(data))
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("cpu time of pid %d: stat has %d fields after the name, want > %d", pid, len(f), stime)
	}
	var ticks uint64
	for _, s := range []string{f[utime], f[stime]} {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time of pid %d: stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / ticksPerSecond), nil
}

// MemAvailable is the kernel's estimate of memory available for new work
// without swapping (MemAvailable in /proc/meminfo). MemFree would count
// reclaimable page cache as used and stop a run early for no reason.
func (p ProcFS) MemAvailable() (uint64, error) {
	data, err := os.ReadFile(filepath.Join(p.Root, "meminfo"))
	if err != nil {
		return 0, fmt.Errorf("host memory: %w", err)
	}
	kb, err := kbFields(data, "MemAvailable:")
	if err != nil {
		return 0, fmt.Errorf("host memory: meminfo: %w", err)
	}
	return kb[0] << 10, nil
}

// kbFields returns the values of "Key:   N kB" lines, in the order asked.
func kbFields(data []byte, keys ...string) ([]uint64, error) {
	out := make([]uint64, len(keys))
	found := make([]bool, len(keys))
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		for i, k := range keys {
			if f[0] != k || found[i] {
				continue
			}
			if len(f) != 3 || f[2] != "kB" {
				return nil, fmt.Errorf("%s: unexpected line %q", k, sc.Text())
			}
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[i], found[i] = n, true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for i, k := range keys {
		if !found[i] {
			return nil, fmt.Errorf("no %s line", k)
		}
	}
	return out, nil
}

func clipStat(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}

// CommandsCPUTime sums CPU time over every process whose command name
// (/proc/PID/comm) is one of names: the libvirt daemons, which have no
// pid file in a known place when started by hand. A process that exits
// while being read is skipped.
func (p ProcFS) CommandsCPUTime(names ...string) (time.Duration, error) {
	entries, err := os.ReadDir(p.Root)
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var total time.Duration
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(p.Root, e.Name(), "comm"))
		if err != nil || !want[strings.TrimSpace(string(comm))] {
			continue
		}
		t, err := p.CPUTime(pid)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += t
	}
	return total, nil
}
