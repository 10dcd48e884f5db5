//go:build integration

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmctl/vmctl/bench"
)

// TestBenchOverheadAndCompare runs two workloads natively and in a real
// TCG guest, then checks the JSON (every sample, paired), the HTML report
// and `bench compare` of the report with itself.
func TestBenchOverheadAndCompare(t *testing.T) {
	state := t.TempDir()
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	r := mustVMCTL(t, state, "-o", "json", "bench", "overhead", "--workloads", "primes,syscalls", "--reps", "3", "--warmup", "1",
		"--budget", "30s", "--json", jsonPath, "--report", htmlPath)
	var rep bench.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if len(rep.Results) != 2 || len(rep.Boot) != 1 || rep.Host.QEMU == "" || rep.Host.Libvirt == "" {
		t.Fatalf("report: %d results, %d boots, host %+v", len(rep.Results), len(rep.Boot), rep.Host)
	}
	for _, res := range rep.Results {
		native, vm := bench.Pairs(res)
		if len(native) < 3 || len(native) != len(vm) || len(res.Samples) != 2*len(native) {
			t.Fatalf("%s: %d native, %d VM of %d samples", res.Workload, len(native), len(vm), len(res.Samples))
		}
		// Under TCG a guest is far slower than the host; a ratio of 1 or
		// more would mean the two sides were not what they claim.
		if res.Shape.Accel != "tcg" || res.Shape.AccelReason == "" || res.Ratio.Estimate <= 0 || res.Ratio.Estimate >= 1 ||
			res.Ratio.Low > res.Ratio.Estimate || res.Ratio.High < res.Ratio.Estimate {
			t.Fatalf("%s: shape %+v ratio %+v", res.Workload, res.Shape, res.Ratio)
		}
		if res.Stop == "" {
			t.Fatalf("%s: no stop reason", res.Workload)
		}
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TCG", "primes", "syscalls", "<svg"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	c := mustVMCTL(t, state, "bench", "compare", jsonPath, jsonPath)
	if strings.Count(c.stdout, "1.00x (within noise)") != 2 {
		t.Fatalf("a report compared with itself:\n%s", c.stdout)
	}
	bad := vmctl(t, state, "bench", "overhead", "--workloads", "nosuch")
	if bad.code == 0 || !strings.Contains(bad.stderr, "nosuch") {
		t.Fatalf("unknown workload: %d %s", bad.code, bad.stderr)
	}
	assertGone(t, state, nil)
}
