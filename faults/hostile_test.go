//go:build faults

package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scenario 6's bounds: what a hostile guest may cost a vmctl process in
// memory over a normal exec, and how long it may take to be refused.
const (
	maxRSSGrowthKiB = 16 << 10
	maxRefusal      = 20 * time.Second
)

// TestScenario06HostileAgent runs `vmctl vm exec` against guests whose
// agent breaks the framing (faults/hostileagent) and against a normal
// guest, and compares the processes' peak RSS.
func TestScenario06HostileAgent(t *testing.T) {
	s := newScenario(t, "6 hostile agent: 1 GiB line, endless frame, flood")
	img := hostileImage(t, "")
	s.run(func(t *testing.T, r *runEnv) {
		normal, line, big, flood := r.name("normal"), r.name("line"), r.name("bigframe"), r.name("flood")
		// The line guest never completes a hello, so create cannot wait
		// for its agent.
		r.createVMs(
			vmSpec{name: normal},
			vmSpec{name: line, image: img, args: []string{"--no-wait", "--kernel-args", "vmctl.hostile=line"}},
			vmSpec{name: big, image: img, args: []string{"--kernel-args", "vmctl.hostile=bigframe"}},
			vmSpec{name: flood, image: img, args: []string{"--kernel-args", "vmctl.hostile=flood"}},
		)
		r.waitConsole(line, "hostileagent: serving on", time.Minute)

		base, baseHWM := r.measureExec(normal, "true")
		if base.code != 0 {
			t.Fatalf("exec in the normal guest: exit %d: %s", base.code, base.stderr)
		}
		s.figure("normal exec: peak RSS %.1f MiB, %s", mib(baseHWM), base.took.Round(time.Millisecond))

		cases := []struct {
			name, vm string
			argv     []string
			wantCode int    // 0, or -1 for any non-zero code
			errHas   string // in stderr when the exec fails
		}{
			// 1 MiB of garbage per handshake attempt is the skip limit.
			{"1 GiB line", line, []string{"true"}, -1, "handshake failed"},
			{"1 GiB frame", big, []string{"true"}, -1, "frame too large"},
			// ~30,000 events for ids nobody waits for arrive during the
			// sleep; the exec's own answer still gets through.
			{"10k frames/s flood", flood, []string{"flood", "sleep", "3"}, 0, ""},
		}
		for _, c := range cases {
			res, hwm := r.measureExec(c.vm, c.argv...)
			growth := hwm - baseHWM
			s.figure("%s: exit %d after %s, peak RSS %.1f MiB (%+.1f MiB over normal): %s",
				c.name, res.code, res.took.Round(time.Millisecond), mib(hwm), mib(growth), errorLine(res.stderr))
			switch {
			case c.wantCode == 0 && res.code != 0:
				t.Errorf("%s: exit %d, want 0: %s", c.name, res.code, res.stderr)
			case c.wantCode != 0 && res.code == 0:
				t.Errorf("%s: exec succeeded, want a refusal", c.name)
			case c.wantCode != 0 && !strings.Contains(res.stderr, c.errHas):
				t.Errorf("%s: stderr %q does not name %q", c.name, res.stderr, c.errHas)
			}
			if res.took > maxRefusal {
				t.Errorf("%s: took %s, want under %s", c.name, res.took, maxRefusal)
			}
			if growth >= maxRSSGrowthKiB {
				t.Errorf("%s: peak RSS grew %.1f MiB over a normal exec, want < %d MiB", c.name, mib(growth), maxRSSGrowthKiB>>10)
			}
		}

		// The flood really flowed: the guest counts what it sent.
		st := r.mustVMCTL("vm", "exec", flood, "--", "floodstats")
		var fr floodReport
		if err := json.Unmarshal([]byte(st.stdout), &fr); err != nil {
			t.Fatalf("floodstats: %v: %q", err, st.stdout)
		}
		s.figure("flood guest sent %d frames in %.1f s (%.0f frames/s)", fr.Frames, fr.Seconds, fr.FramesPerSec)
		if fr.Frames < 3000 {
			t.Errorf("the flood sent %d frames in %.1f s; want at least 3000 (1,000/s)", fr.Frames, fr.Seconds)
		}
	})
}

// floodReport is the hostile agent's floodstats output.
type floodReport struct {
	Frames       int64   `json:"frames"`
	FrameBytes   int64   `json:"frame_bytes"`
	Seconds      float64 `json:"seconds"`
	FramesPerSec float64 `json:"frames_per_sec"`
}

// measureExec runs `vmctl vm exec NAME -- ARGV` and returns it with the
// process's peak RSS in KiB: the highest VmHWM sampled while it ran, or
// the kernel's final figure (getrusage) if higher.
func (r *runEnv) measureExec(name string, argv ...string) (result, int64) {
	r.t.Helper()
	var hwm int64
	res, err := runCmd(r.command(append([]string{"vm", "exec", name, "--"}, argv...)...), func(pid int) {
		if v := statusKiB(pid, "VmHWM:"); v > hwm {
			hwm = v
		}
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return res, max(hwm, res.maxRSSKiB)
}

// statusKiB reads one "Field: N kB" line of /proc/PID/status (0 if gone).
func statusKiB(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}

// waitConsole waits until the VM's console log has a line containing want.
func (r *runEnv) waitConsole(name, want string, limit time.Duration) {
	r.t.Helper()
	path := r.stateDir + "/" + name + "/console.log"
	deadline := time.Now().Add(limit)
	for {
		data, _ := os.ReadFile(path)
		if bytes.Contains(data, []byte(want)) {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: no %q on the console within %s:\n%s", name, want, limit, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
