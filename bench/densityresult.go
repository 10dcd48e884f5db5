package bench

import (
	"time"

	"github.com/vmctl/vmctl/jobs"
)

// DensityStopReason says in one word why a density run stopped adding VMs.
type DensityStopReason string

const (
	// DensityStopMax: Plan.Max VMs ran and all stayed within the threshold.
	DensityStopMax DensityStopReason = "max"
	// DensityStopDegraded: create time or ping p99 exceeded Plan.Degrade
	// times its value with one VM; Stop.Metrics names which.
	DensityStopDegraded DensityStopReason = "degraded"
	// DensityStopMemory: one more VM would have left the host with less
	// available memory than Plan.ReserveMiB.
	DensityStopMemory DensityStopReason = "memory"
	// DensityStopCreateFailed: starting the next VM failed.
	DensityStopCreateFailed DensityStopReason = "create-failed"
	// DensityStopPingFailed: a running VM's agent stopped answering.
	DensityStopPingFailed DensityStopReason = "ping-failed"
	// DensityStopCanceled: the caller's context ended (e.g. Ctrl-C).
	DensityStopCanceled DensityStopReason = "canceled"
	// DensityStopError: a host figure could not be read.
	DensityStopError DensityStopReason = "error"
)

// Metric names used in DensityStop.Metrics.
const (
	DensityMetricCreate  = "create"
	DensityMetricPingP99 = "ping_p99"
)

// DensityStop is why and where a density run ended.
type DensityStop struct {
	Reason DensityStopReason `json:"reason"`
	// Detail is the human sentence: the figures that crossed the
	// threshold, the memory arithmetic, or the error.
	Detail string `json:"detail"`
	// Metrics names the degraded figures (DensityMetricCreate, ...).
	Metrics []string `json:"metrics,omitempty"`
}

// DensityVM is one running VM's QEMU process at the end of a step.
type DensityVM struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	ProcMemory
	// CPU is the process's host CPU over the idle window, as a fraction of
	// one core (0.02 = 2% of a core).
	CPU float64 `json:"cpu"`
}

// DensityStep is what was measured with VMs VMs running, right after the
// last of them became ready.
type DensityStep struct {
	VMs int `json:"vms"`
	// NewVM is the VM this step started, Create its create-to-ready time
	// (placement, define, boot and the agent's answer).
	NewVM  string        `json:"new_vm"`
	Create time.Duration `json:"create_ns"`
	// Ping is the agent round trip over Plan.Pings pings to every running
	// VM, taken one at a time after the idle window.
	Ping  jobs.Percentiles `json:"ping"`
	Pings int              `json:"pings"`
	// MeanRSS and MeanPSS are per VM, over all running QEMU processes.
	MeanRSS uint64 `json:"mean_rss_bytes"`
	MeanPSS uint64 `json:"mean_pss_bytes"`
	// CPUPerVM is the mean idle host CPU of one QEMU process as a fraction
	// of a core, CPUTotal the sum over all of them, over Window.
	CPUPerVM float64       `json:"cpu_per_vm"`
	CPUTotal float64       `json:"cpu_total"`
	Window   time.Duration `json:"cpu_window_ns"`
	// HostAvailable is the host's MemAvailable after the step.
	HostAvailable uint64      `json:"host_available_bytes"`
	PerVM         []DensityVM `json:"per_vm"`
}

// DensityResult is everything one density run measured.
type DensityResult struct {
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	// Host and Shape are filled in by the caller, which knows them.
	Host  Host        `json:"host"`
	Shape Shape       `json:"shape"`
	Plan  DensityPlan `json:"plan"`
	// HostAvailableStart is MemAvailable before the first VM.
	HostAvailableStart uint64        `json:"host_available_start_bytes"`
	Steps              []DensityStep `json:"steps"`
	// Reached is the largest number of VMs measured running together;
	// Within the largest whose figures stayed within the threshold (it is
	// Reached-1 when the last step degraded).
	Reached int         `json:"reached"`
	Within  int         `json:"within"`
	Stop    DensityStop `json:"stop"`
	// Notes say what the caller changed to make the run possible.
	Notes []string `json:"notes,omitempty"`
}
