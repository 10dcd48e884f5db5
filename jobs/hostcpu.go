package jobs

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// hostCPU turns /proc/stat's cumulative counters into utilisation since
// the previous sample. Local host only: for a remote fleet it measures the
// machine vmctl runs on, which the summary says.
type hostCPU struct {
	busy, total uint64
	// cpus is how many CPUs /proc/stat lists: what its utilisation is a
	// fraction of.
	cpus int
}

// sample returns host utilisation (0..1) since the last call; 0 the first
// time or when /proc/stat cannot be read.
func (h *hostCPU) sample() float64 {
	busy, total, cpus, ok := readProcStat("/proc/stat")
	if !ok {
		return 0
	}
	h.cpus = cpus
	defer func() { h.busy, h.total = busy, total }()
	if h.total == 0 || total <= h.total {
		return 0
	}
	return float64(busy-h.busy) / float64(total-h.total)
}

// readProcStat sums the aggregate "cpu" line (idle and iowait are idle,
// everything else busy; guest time is already inside user) and counts
// the per-CPU "cpuN" lines.
func readProcStat(path string) (busy, total uint64, cpus int, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || !strings.HasPrefix(fields[0], "cpu") {
			continue
		}
		if fields[0] != "cpu" {
			cpus++
			continue
		}
		for i, v := range fields[1:] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0, 0, false
			}
			// guest and guest_nice (fields 9, 10) are counted in user.
			if i >= 8 {
				break
			}
			total += n
			if i != 3 && i != 4 {
				busy += n
			}
		}
		ok = true
	}
	return busy, total, cpus, ok
}
