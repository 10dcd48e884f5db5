package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// nsPerTick converts /proc/stat ticks to nanoseconds. The kernel reports
// them in USER_HZ, which is part of the ABI and 100 on every architecture
// Linux supports (sysconf(_SC_CLK_TCK) is a constant for that reason).
const nsPerTick = 1e9 / 100

// DefaultProcRoot is where procfs is mounted.
const DefaultProcRoot = "/proc"

// ReadStats samples CPU, memory, uptime and load from procfs at procRoot.
func ReadStats(ctx context.Context, procRoot string) (*GuestStats, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("agent: read stats: %w", err)
	}
	var st GuestStats
	var err error
	if err = withFile(filepath.Join(procRoot, "stat"), func(r io.Reader) error {
		st.CPU, st.NumCPU, err = parseStat(r)
		return err
	}); err != nil {
		return nil, err
	}
	if err = withFile(filepath.Join(procRoot, "meminfo"), func(r io.Reader) error {
		st.Memory, err = parseMeminfo(r)
		return err
	}); err != nil {
		return nil, err
	}
	if st.UptimeSeconds, err = ReadUptime(ctx, procRoot); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(procRoot, "loadavg"))
	if err != nil {
		return nil, fmt.Errorf("agent: read stats: %w", err)
	}
	if st.LoadAverage, err = parseLoadavg(string(b)); err != nil {
		return nil, err
	}
	return &st, nil
}

// ReadUptime returns the first field of /proc/uptime, in seconds.
func ReadUptime(ctx context.Context, procRoot string) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("agent: read uptime: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(procRoot, "uptime"))
	if err != nil {
		return 0, fmt.Errorf("agent: read uptime: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, fmt.Errorf("agent: read uptime: empty file")
	}
	up, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return 0, fmt.Errorf("agent: read uptime: %w", err)
	}
	return up, nil
}

// ReadKernelRelease returns what uname -r prints.
func ReadKernelRelease(ctx context.Context, procRoot string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("agent: read kernel release: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/osrelease"))
	if err != nil {
		return "", fmt.Errorf("agent: read kernel release: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func withFile(name string, f func(io.Reader) error) error {
	fh, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("agent: read stats: %w", err)
	}
	defer fh.Close()
	if err := f(fh); err != nil {
		return fmt.Errorf("agent: parse %s: %w", name, err)
	}
	return nil
}

// parseStat reads the aggregate "cpu" line and counts the per-CPU lines.
func parseStat(r io.Reader) (CPUTimes, int, error) {
	var t CPUTimes
	var found bool
	ncpu := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "cpu") {
			continue
		}
		if fields[0] != "cpu" {
			ncpu++
			continue
		}
		// Older kernels lack the later columns; missing ones stay zero.
		dst := []*uint64{&t.User, &t.Nice, &t.System, &t.Idle, &t.IOWait, &t.IRQ, &t.SoftIRQ, &t.Steal}
		for i, p := range dst {
			if i+1 >= len(fields) {
				break
			}
			ticks, err := strconv.ParseUint(fields[i+1], 10, 64)
			if err != nil {
				return t, 0, fmt.Errorf("cpu line: %w", err)
			}
			*p = ticks * nsPerTick
		}
		found = true
	}
	if err := sc.Err(); err != nil {
		return t, 0, err
	}
	if !found || ncpu == 0 {
		return t, 0, fmt.Errorf("no cpu lines")
	}
	return t, ncpu, nil
}

func parseMeminfo(r io.Reader) (MemoryStats, error) {
	var m MemoryStats
	dst := map[string]*uint64{
		"MemTotal": &m.Total, "MemFree": &m.Free, "MemAvailable": &m.Available,
		"Buffers": &m.Buffers, "Cached": &m.Cached,
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		p := dst[key]
		if !ok || p == nil {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return m, fmt.Errorf("%s: no value", key)
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("%s: %w", key, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		*p = v
		delete(dst, key)
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if _, missing := dst["MemTotal"]; missing {
		return m, fmt.Errorf("no MemTotal")
	}
	return m, nil
}

func parseLoadavg(s string) ([3]float64, error) {
	var l [3]float64
	fields := strings.Fields(s)
	if len(fields) < 3 {
		return l, fmt.Errorf("agent: parse loadavg: %d fields", len(fields))
	}
	for i := range l {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return l, fmt.Errorf("agent: parse loadavg: %w", err)
		}
		l[i] = v
	}
	return l, nil
}
