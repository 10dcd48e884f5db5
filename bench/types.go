// Package bench measures what virtualization costs: the same built-in
// workload run natively and in a VM, in alternation, until the confidence
// interval of their ratio is narrow enough; plus the self-contained HTML
// report and the comparison of two reports.
package bench

import (
	"time"

	"github.com/vmctl/vmctl/stats"
)

// ReportVersion is bumped when the JSON layout changes incompatibly.
const ReportVersion = 1

// Side is where a sample ran.
type Side string

const (
	Native Side = "native"
	VM     Side = "vm"
)

// Sample is one timed run of a workload.
type Sample struct {
	Side Side `json:"side"`
	// Pair numbers the native/VM pair the sample belongs to; warm-up runs
	// are not kept.
	Pair int `json:"pair"`
	// Value is the workload's own figure (e.g. MB/s), measured inside the
	// workload so process start and dispatch are not in it.
	Value float64       `json:"value"`
	Wall  time.Duration `json:"wall_ns"`
	At    time.Time     `json:"at"`
}

// Shape is the VM a variant runs in. Samples from different shapes or
// acceleration modes are never pooled into one ratio.
type Shape struct {
	VCPUs     int    `json:"vcpus"`
	MemoryMiB int    `json:"memory_mib"`
	Pinned    bool   `json:"pinned"`
	Accel     string `json:"accel"`
	// AccelReason is why this acceleration was chosen (from vmctl's
	// detection), so a TCG result is never read as KVM overhead.
	AccelReason string `json:"accel_reason"`
}

// Interval is an estimate with its confidence interval (package stats).
type Interval = stats.Interval

// Result is one workload on one variant: its samples and the VM/native
// ratio. For a higher-is-better figure a ratio of 0.8 means the VM does
// 80% of native.
type Result struct {
	Workload string   `json:"workload"`
	Args     []string `json:"args,omitempty"`
	Variant  string   `json:"variant"`
	Shape    Shape    `json:"shape"`
	Unit     string   `json:"unit"`
	Samples  []Sample `json:"samples"`
	Ratio    Interval `json:"ratio"`
	// Converged tells whether the interval reached the target width;
	// Stop says in words why the repetitions ended.
	Converged bool   `json:"converged"`
	Stop      string `json:"stop"`
}

// Host describes the machine the report was measured on.
type Host struct {
	Hostname    string `json:"hostname"`
	CPUModel    string `json:"cpu_model"`
	Cores       int    `json:"cores"`
	MemoryBytes uint64 `json:"memory_bytes"`
	Kernel      string `json:"kernel"`
	Libvirt     string `json:"libvirt"`
	QEMU        string `json:"qemu"`
	URI         string `json:"uri"`
}

// Report is everything one `vmctl bench overhead` run measured.
type Report struct {
	Version  int           `json:"version"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Host     Host          `json:"host"`
	// Target is the relative half-width the repetitions aimed for (0.03
	// for ±3%), Budget the time they were allowed, MinPairs/MaxPairs the
	// bounds on repetitions per workload and variant.
	Target   float64       `json:"target"`
	Budget   time.Duration `json:"budget_ns"`
	MinPairs int           `json:"min_pairs"`
	MaxPairs int           `json:"max_pairs"`
	Warmup   int           `json:"warmup"`
	Results  []Result      `json:"results"`
	// Notes say what was asked for but not measured, and why (e.g. KVM
	// variants on a host without usable KVM).
	Notes []string `json:"notes,omitempty"`
	// Boot holds create-to-agent-ready times of the VMs the run booted.
	Boot []BootSample `json:"boot,omitempty"`
}

// BootSample is one VM's create-to-agent-ready time, with the variant and
// acceleration it booted under (boots under TCG and KVM are not pooled).
type BootSample struct {
	Variant string        `json:"variant"`
	Accel   string        `json:"accel"`
	Took    time.Duration `json:"took_ns"`
}
