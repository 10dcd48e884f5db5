package autoscale

import (
	"fmt"
	"time"
)

// Signals are what the controller sees at one tick, all measured.
type Signals struct {
	Time time.Time `json:"time"`
	// Ready VMs can take partitions now; Booting are starting (cold boot
	// or warm resume); Warm are pre-booted and paused; Draining finish
	// their current partitions and take no new ones.
	Ready    int `json:"ready"`
	Booting  int `json:"booting"`
	Warm     int `json:"warm"`
	Draining int `json:"draining"`
	// WarmBooting are warm-pool VMs still booting: not in the pool, but
	// their boots take host CPU from it all the same.
	WarmBooting int `json:"warm_booting"`
	// Boots counts every boot and resume started so far (pool and warm
	// pool): a change between two ticks means a boot happened in between,
	// even one too short for a tick to see.
	Boots int64 `json:"boots"`
	// Backlog is queued partitions; InFlight are running.
	Backlog  int `json:"backlog"`
	InFlight int `json:"in_flight"`
	// Slots is partitions at once per VM.
	Slots int `json:"slots"`
	// BusyRatio is InFlight / (Ready*Slots), 0 with no ready VM.
	BusyRatio float64 `json:"busy_ratio"`
	// GuestCPU is the pool's mean guest CPU utilisation (0..1 per vCPU),
	// from libvirt's cpu.time deltas; HostCPU is the host's (0..1).
	GuestCPU float64 `json:"guest_cpu"`
	HostCPU  float64 `json:"host_cpu"`
	// HostCPUs is how many CPUs HostCPU is a fraction of, and VCPUs how
	// many each VM has: with them the host's spare CPU predicts what
	// another VM can add (0: unknown).
	HostCPUs int `json:"host_cpus,omitempty"`
	VCPUs    int `json:"vcpus,omitempty"`
	// Completed is the cumulative count of finished partitions; the
	// controller derives completion rates from it over its own windows.
	Completed int64 `json:"completed"`
	// CompletionRate is partitions/s over the runner's recent window, for
	// display; decisions use Completed.
	CompletionRate float64 `json:"completion_rate"`
}

// Action is what a decision asks for.
type Action string

const (
	ActionNone     Action = "none"
	ActionScaleOut Action = "scale-out"
	ActionScaleIn  Action = "scale-in"
)

// Decision is one tick's outcome, with its inputs and reason, so every
// decision can be logged and drawn.
type Decision struct {
	Time    time.Time `json:"time"`
	Current int       `json:"current"` // Ready + Booting
	// Raw is what the metric alone asks for; Desired is after every rule.
	Raw     int    `json:"raw"`
	Desired int    `json:"desired"`
	Action  Action `json:"action"`
	// Rule names what bounded Raw into Desired, if anything: "min",
	// "max", "tolerance", "window", "cooldown", "max-step", "ceiling",
	// "idle" (scale to zero).
	Rule    string  `json:"rule,omitempty"`
	Reason  string  `json:"reason"`
	Signals Signals `json:"signals"`
	// Verdict is the throughput probe judged at this tick, if any.
	Verdict *Verdict `json:"verdict,omitempty"`
}

// Verdict is a judged probe: the pool's throughput at From VMs (Before)
// and at To VMs (After), the gain after/before with its interval, and
// the gain Need that MinGain asked for.
type Verdict struct {
	From, To      int
	Before, After float64
	Unit          string // "cores" or "partitions/s"
	Gain          float64
	Low, High     float64 // High is +Inf when there is no interval yet
	Level         float64
	Need          float64
	// Outcome is "ceiling", "kept" or "inconclusive" (kept undecided).
	Outcome string
}

// Short is the verdict in one ASCII line, for the timeline.
func (v Verdict) Short() string {
	return fmt.Sprintf("%d->%d VMs: %.2f->%.2f %s, x%.2f [%.2f, %.2f] vs x%.2f: %s",
		v.From, v.To, v.Before, v.After, v.Unit, v.Gain, v.Low, v.High, v.Need, v.Outcome)
}
