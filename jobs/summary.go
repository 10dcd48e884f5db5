package jobs

import (
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/vmctl/vmctl/autoscale"
	"github.com/vmctl/vmctl/hypervisor"
)

// PartitionRow is one line of the summary table.
type PartitionRow struct {
	Index    int           `json:"index"`
	Worker   string        `json:"worker,omitempty"`
	Host     string        `json:"host,omitempty"`
	Attempts int           `json:"attempts"`
	Duration time.Duration `json:"duration_ns"`
	Bytes    int64         `json:"bytes,omitempty"`
	Done     bool          `json:"done"`
	// Resumed: finished by an earlier run of this job directory.
	Resumed bool `json:"resumed,omitempty"`
	running bool
}

// Summary is what a job run reports.
type Summary struct {
	Job        string        `json:"job"`
	Dir        string        `json:"dir"`
	Kind       string        `json:"kind"` // vm or native
	Partitions int           `json:"partitions"`
	Done       int           `json:"done"`
	Resumed    int           `json:"resumed,omitempty"`
	Attempts   int           `json:"attempts"`
	Failures   int           `json:"failed_attempts"`
	Workers    int           `json:"workers_started"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	// Startup is the time until the first worker was ready (VM boot).
	Startup time.Duration `json:"startup_ns"`
	// Makespan is from the start until the last partition finished.
	Makespan time.Duration `json:"makespan_ns"`
	// Work is from the first worker ready to the last partition done:
	// the job without VM boot and teardown.
	Work time.Duration `json:"work_ns"`
	// InputBytes counts the input of the partitions this run finished.
	InputBytes int64 `json:"input_bytes"`
	// Throughput over the whole run, startup included, and over the part
	// after the first worker was up.
	PartitionsPerSec float64 `json:"partitions_per_sec"`
	InputMBPerSec    float64 `json:"input_mb_per_sec"`
	RunMBPerSec      float64 `json:"run_input_mb_per_sec"`
	// VMSeconds is the pool's cost: the lifetime of every worker that
	// served, boot included. A warm VM's paused time is not in it (a
	// paused guest holds its memory but uses no CPU): PausedSeconds.
	VMSeconds     float64       `json:"vm_seconds"`
	PausedSeconds float64       `json:"paused_vm_seconds,omitempty"`
	Starts        []StartSample `json:"starts,omitempty"`
	// Decisions counts autoscaler actions; Ceiling is its throughput
	// ceiling finding, if any.
	ScaleOuts int `json:"scale_outs,omitempty"`
	ScaleIns  int `json:"scale_ins,omitempty"`
	// DecisionCounts counts every autoscaler decision by what it did and
	// the rule behind it ("scale out", "hold: ceiling", "hold: cooldown",
	// "hold: on target", ...).
	DecisionCounts map[string]int `json:"decision_counts,omitempty"`
	// BacklogTicks counts the ticks with partitions queued by how many
	// VMs were ready then: how long the pool was at each size while it
	// had work waiting.
	BacklogTicks map[int]int `json:"backlog_ticks_by_ready,omitempty"`
	MaxPool      int         `json:"max_pool,omitempty"`
	Ceiling      string      `json:"ceiling,omitempty"`
	// Ceilings are the sizes of every throughput ceiling declared (a
	// ceiling lifted and found again appears again).
	Ceilings []int          `json:"ceilings,omitempty"`
	Rows     []PartitionRow `json:"rows"`
	Result   *Reduced       `json:"result,omitempty"`
	// LeftBehind are the workers that could not be removed, each with
	// its host, the error and the fix. The result stands without them.
	LeftBehind []hypervisor.Leftover `json:"left_behind,omitempty"`
}

// summary builds the report from the runner's counters. Called with mu
// not held.
func (r *Runner) summary() *Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &Summary{Job: r.Spec.Name, Dir: r.Dir, Kind: r.Provider.Kind(), Partitions: r.total,
		Attempts: r.attempts, Failures: r.failures, Workers: r.booted, InputBytes: r.inBytes}
	if !r.started.IsZero() {
		s.Elapsed = time.Since(r.started)
	}
	if !r.firstUp.IsZero() {
		s.Startup = r.firstUp.Sub(r.started)
	}
	if p := r.pool; p != nil {
		p.mu.Lock()
		s.VMSeconds, s.PausedSeconds = p.vmSeconds, p.pausedSeconds
		s.Starts = append(s.Starts, p.starts...)
		p.mu.Unlock()
	}
	s.Ceiling = r.ceiling
	s.Ceilings = slices.Clone(r.ceilings)
	if len(r.decisionCounts) > 0 {
		s.DecisionCounts = maps.Clone(r.decisionCounts)
	}
	if len(r.backlogTicks) > 0 {
		s.BacklogTicks = maps.Clone(r.backlogTicks)
	}
	s.LeftBehind = append(s.LeftBehind, r.left...)
	for _, d := range r.decisions {
		switch d.Action {
		case autoscale.ActionScaleOut:
			s.ScaleOuts++
		case autoscale.ActionScaleIn:
			s.ScaleIns++
		}
		s.MaxPool = max(s.MaxPool, d.Desired)
	}
	doneNow := 0
	for _, row := range r.rows {
		s.Rows = append(s.Rows, *row)
		if row.Done {
			s.Done++
			if row.Resumed {
				s.Resumed++
			} else {
				doneNow++
			}
		}
	}
	sort.Slice(s.Rows, func(i, j int) bool { return s.Rows[i].Index < s.Rows[j].Index })
	if sec := s.Elapsed.Seconds(); sec > 0 {
		s.PartitionsPerSec = float64(doneNow) / sec
		s.InputMBPerSec = float64(s.InputBytes) / 1e6 / sec
	}
	if !r.lastDone.IsZero() {
		s.Makespan = r.lastDone.Sub(r.started)
	}
	if !r.firstUp.IsZero() && r.lastDone.After(r.firstUp) {
		s.Work = r.lastDone.Sub(r.firstUp)
		s.RunMBPerSec = float64(s.InputBytes) / 1e6 / s.Work.Seconds()
	}
	return s
}
