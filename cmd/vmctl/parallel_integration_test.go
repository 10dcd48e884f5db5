//go:build integration

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vmctl/vmctl/bench"
)

// TestBenchParallel starts one VM, then two at once, with the minimal
// kernel, and checks the step arithmetic against what was measured.
func TestBenchParallel(t *testing.T) {
	state := t.TempDir()
	t.Cleanup(func() { assertNothingLeft(t, state) })
	r := mustVMCTL(t, state, "--image-dir", minimalImageDir, "-o", "json", "bench", "parallel", "--counts", "2")
	var res bench.ParallelResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(res.Steps) != 2 || res.Steps[0].N != 1 || res.Steps[1].N != 2 {
		t.Fatalf("steps %+v: want N=1 (the reference) then N=2", res.Steps)
	}
	if res.SingleWall <= 0 || res.SingleCPU <= 0 || res.Plan.Cores < 1 || res.Shape.Accel == "" {
		t.Fatalf("single boot %s wall, %s CPU on %d cores (%q): want all measured", res.SingleWall, res.SingleCPU, res.Plan.Cores, res.Shape.Accel)
	}
	two := res.Steps[1]
	if len(two.Rounds) != 1 || len(two.Rounds[0].Ready) != 2 || two.CPU <= 0 {
		t.Fatalf("N=2 step %+v: want one round with two ready times and their CPU", two)
	}
	if want := bench.CPUBoundLimit(2, res.SingleCPU, res.Plan.Cores); two.CPULimit != want {
		t.Errorf("N=2 limit %s, want 2 × %s / %d = %s", two.CPULimit, res.SingleCPU, res.Plan.Cores, want)
	}
	// No two boots finish before the slower of them.
	for _, d := range two.Rounds[0].Ready {
		if d <= 0 || d > two.AllReady {
			t.Errorf("ready %s outside (0, all ready %s]", d, two.AllReady)
		}
	}
	t.Logf("single %s wall / %s CPU; 2 at once: all ready %s, CPU %s, limit %s, ratio %.2f",
		res.SingleWall, res.SingleCPU, two.AllReady, two.CPU, two.CPULimit, two.Ratio)
}

func TestBenchParallelRejectsBadCounts(t *testing.T) {
	state := t.TempDir()
	for _, counts := range []string{"1,x", "0", "1000"} {
		r := vmctl(t, state, "bench", "parallel", "--counts", counts)
		if r.code == 0 || !strings.Contains(r.stderr, "count") {
			t.Errorf("--counts %s: exit %d, stderr %q: want a refusal naming the count", counts, r.code, r.stderr)
		}
	}
	assertNothingLeft(t, state)
}
