package workload

import "time"

// Result is what every built-in prints, as one JSON object on stdout.
type Result struct {
	Workload string           `json:"workload"`
	Value    float64          `json:"value"`
	Text     string           `json:"text,omitempty"`
	Counts   map[string]int64 `json:"counts,omitempty"`
	Bytes    int64            `json:"bytes,omitempty"` // input/working bytes processed
	Ops      int64            `json:"ops,omitempty"`
	Seconds  float64          `json:"seconds"`        // measured inside the workload
	Unit     string           `json:"unit,omitempty"` // unit of Value: "primes", "words", "MB/s", "syscalls/s"
}

// Units of Result.Value.
const (
	UnitMBps     = "MB/s"
	UnitPrimes   = "primes"
	UnitWords    = "words"
	UnitSyscalls = "syscalls/s"
)

// perSecond is n/d, and 0 for a run too short to measure: JSON cannot
// carry the Inf or NaN a zero duration would give.
func perSecond(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// mbPerSecond is a throughput in MB (10^6 bytes) per second.
func mbPerSecond(bytes int64, d time.Duration) float64 {
	return perSecond(float64(bytes)/1e6, d)
}
