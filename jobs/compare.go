package jobs

import (
	"errors"
	"fmt"
	"math"
)

// ErrResultsDiffer: two runs of one job disagree.
var ErrResultsDiffer = errors.New("results differ")

// Ratio compares an in-VM run with a native run of the same job.
type Ratio struct {
	// Throughput is in-VM / native input MB/s (partitions/s for jobs
	// without input bytes) over the whole run, VM boot included.
	Throughput float64 `json:"throughput"`
	// RunThroughput leaves VM boot out: the cost of running in a VM once
	// it is up.
	RunThroughput float64 `json:"run_throughput"`
	Basis         string  `json:"basis"` // "input MB/s" or "partitions/s"
}

// Compare computes vm/native throughput ratios.
func Compare(vm, native *Summary) Ratio {
	if vm.InputBytes > 0 && native.InputMBPerSec > 0 {
		r := Ratio{Basis: "input MB/s", Throughput: vm.InputMBPerSec / native.InputMBPerSec}
		if native.RunMBPerSec > 0 {
			r.RunThroughput = vm.RunMBPerSec / native.RunMBPerSec
		}
		return r
	}
	r := Ratio{Basis: "partitions/s"}
	if native.PartitionsPerSec > 0 {
		r.Throughput = vm.PartitionsPerSec / native.PartitionsPerSec
	}
	vmRun, natRun := vm.Work.Seconds(), native.Work.Seconds()
	if vmRun > 0 && natRun > 0 {
		r.RunThroughput = natRun / vmRun
	}
	return r
}

// CheckSameResult reports whether two reduced results agree: equal values,
// texts and per-key counts. Measurement built-ins (MB/s and the like)
// differ by nature; only their partition counts are compared.
func CheckSameResult(a, b *Reduced) error {
	if a == nil || b == nil {
		return nil
	}
	if a.Partitions != b.Partitions {
		return fmt.Errorf("%w: %d vs %d partitions", ErrResultsDiffer, a.Partitions, b.Partitions)
	}
	if a.Unit != "" && isRate(a.Unit) {
		return nil
	}
	if math.Abs(a.Value-b.Value) > 1e-9*math.Max(1, math.Abs(a.Value)) {
		return fmt.Errorf("%w: value %v vs %v", ErrResultsDiffer, a.Value, b.Value)
	}
	if a.Text != b.Text {
		return fmt.Errorf("%w: text output differs", ErrResultsDiffer)
	}
	if len(a.Counts) != len(b.Counts) {
		return fmt.Errorf("%w: %d vs %d distinct keys", ErrResultsDiffer, len(a.Counts), len(b.Counts))
	}
	for k, v := range a.Counts {
		if b.Counts[k] != v {
			return fmt.Errorf("%w: key %q: %d vs %d", ErrResultsDiffer, k, v, b.Counts[k])
		}
	}
	return nil
}

func isRate(unit string) bool { return len(unit) > 2 && unit[len(unit)-2:] == "/s" }
