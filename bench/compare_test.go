package bench

import (
	"strings"
	"testing"
)

func report(results ...Result) *Report { return &Report{Version: ReportVersion, Results: results} }

func result(w string, accel string, est, lo, hi float64) Result {
	return Result{Workload: w, Variant: "1 vCPU", Shape: Shape{VCPUs: 1, MemoryMiB: 512, Accel: accel},
		Ratio: Interval{Estimate: est, Low: lo, High: hi}}
}

func TestCompareNeverMixesAccelerationModes(t *testing.T) {
	a := report(result("primes", "tcg", 0.10, 0.09, 0.11), result("membw", "tcg", 0.5, 0.45, 0.55), result("io", "tcg", 1, 0.9, 1.1))
	b := report(result("primes", "kvm", 0.97, 0.96, 0.98), result("membw", "tcg", 0.8, 0.75, 0.85), result("syscalls", "tcg", 0.2, 0.19, 0.21))
	rows := Compare(a, b)
	by := map[string]CompareRow{}
	for _, r := range rows {
		by[r.Workload] = r
	}
	if r := by["primes"]; r.Change != 0 || r.Differs || !strings.Contains(r.Note, "tcg") || !strings.Contains(r.Note, "kvm") {
		t.Fatalf("a TCG and a KVM ratio were compared: %+v", r)
	}
	if r := by["membw"]; r.Change < 1.59 || r.Change > 1.61 || !r.Differs {
		t.Fatalf("membw 0.5 -> 0.8 with disjoint intervals: %+v", r)
	}
	if by["io"].Note != "only in A" || by["syscalls"].Note != "only in B" {
		t.Fatalf("unmatched rows: %+v %+v", by["io"], by["syscalls"])
	}
}

func TestCompareOverlappingIntervalsDoNotDiffer(t *testing.T) {
	rows := Compare(report(result("primes", "tcg", 0.10, 0.09, 0.11)), report(result("primes", "tcg", 0.105, 0.1, 0.11)))
	if len(rows) != 1 || rows[0].Differs || rows[0].Change == 0 {
		t.Fatalf("%+v", rows)
	}
}
