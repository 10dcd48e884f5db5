package autoscale

import "time"

// Metrics a policy can track.
const (
	// MetricBacklog is (Backlog+InFlight) per VM: the partitions each VM
	// would have to hold for none to wait. Its default target is Slots.
	MetricBacklog = "backlog"
	// MetricBusy is BusyRatio, running partitions over ready slots.
	MetricBusy = "busy"
	// MetricCPU is GuestCPU, the pool's mean guest CPU utilisation.
	MetricCPU = "cpu"
)

// Defaults. The Kubernetes HPA's are tuned for pods that start in tens of
// seconds; ours start in about 3 s (PVH boot under TCG), so every
// duration here is scaled to that boot time rather than copied.
const (
	// DefaultMax bounds a pool when the policy names no max: twice the
	// 2-core hosts vmctl is developed on. It is a safety bound, not a
	// tuning: the throughput ceiling finds where more VMs stop helping.
	DefaultMax = 4

	// DefaultTolerance is the HPA's 10%: the metric moves by more than
	// that between ticks from partition granularity alone, and reacting
	// to it would resize the pool on noise.
	DefaultTolerance = 0.1

	// DefaultBusyTarget and DefaultCPUTarget leave 20% headroom, the
	// usual HPA CPU target: at 100% a saturated pool and a pool that is
	// exactly big enough look the same, so the controller could never
	// tell that it should grow.
	DefaultBusyTarget = 0.8
	DefaultCPUTarget  = 0.8

	// DefaultSync is the tick: a 3 s boot completes within two ticks, so
	// the controller sees new VMs take work almost as soon as they can,
	// while a tick still spans a few completions of second-long
	// partitions instead of deciding on a single one.
	DefaultSync = 2 * time.Second

	// DefaultScaleUpWindow is 0, as in the HPA: answering a surge late
	// costs makespan, and an unneeded VM costs only its 3 s boot and the
	// scale-down window before it goes.
	DefaultScaleUpWindow = 0

	// DefaultScaleDownWindow is the HPA's 300 s scaled down: 300 s is
	// about ten pod starts; ten of our boots is 30 s. A gap in the queue
	// shorter than that keeps its VMs, which are then ready for the next
	// burst without a boot.
	DefaultScaleDownWindow = 30 * time.Second

	// DefaultMaxStepUp adds two VMs at a time: on a 2-core host two
	// concurrent TCG boots already take all the CPU from running
	// partitions, and a bigger step would also overshoot the 2-VM
	// throughput ceiling of such a host before it can be measured.
	DefaultMaxStepUp = 2

	// DefaultMaxStepDown removes one VM at a time: shrinking is never
	// urgent, and one VM is the smallest change whose effect on the
	// metric can be seen before the next.
	DefaultMaxStepDown = 1

	// DefaultCooldownOut is a boot plus a tick: no action follows a
	// scale-out until its VMs are ready and have taken partitions, so the
	// next decision sees the grown pool, not the one that asked for it.
	DefaultCooldownOut = 5 * time.Second

	// DefaultCooldownIn spaces scale-ins by about five boots. With the
	// default 30 s scale-down window, which already allows one scale-in
	// per window, it only matters when the window is set shorter.
	DefaultCooldownIn = 15 * time.Second

	// DefaultIdleTimeout ends an idle pool (with min 0) after 30 s: the
	// VM-seconds of ten boots, a cheap price for not booting again when
	// work comes back within half a minute.
	DefaultIdleTimeout = 30 * time.Second

	// DefaultMinGain is how much of its fair share an added VM must add
	// to the completion rate to count as useful: 15% is well above the
	// few percent that measurement noise over a settle window gives, and
	// well below the 50-100% a VM on an idle core adds.
	DefaultMinGain = 0.15

	// DefaultSettle is how long new VMs run before their effect is
	// measured: ten seconds holds about five 2 s partitions per VM, and
	// scale-out waits this long for each measurement, so longer makes
	// growth slower.
	DefaultSettle = 10 * time.Second

	// DefaultHostCPU is the share of the host's CPU the prior lets pools
	// use: under TCG a vCPU is a host thread, so another VM on saturated
	// cores only shares the same cycles. With it the host's spare CPU
	// predicts the 2-VM limit of a 2-core host before any probe, and
	// predicts room where a probe would have to wait for a baseline.
	DefaultHostCPU = 0.9

	// DefaultConfidence is the level of the probe's Student-t interval:
	// a ceiling needs the whole interval of the gain below MinGain.
	// 90% two-sided means a pool that does scale is declared capped in
	// at most one probe in twenty by chance.
	DefaultConfidence = 0.9

	// DefaultExpire re-probes a ceiling after two minutes: about twelve
	// settle windows of work at the ceiling between probes, and soon
	// enough that a neighbour's load that went away is noticed within a
	// job's burst.
	DefaultExpire = 2 * time.Minute

	// DefaultLoadChange expires a ceiling when the host load that is not
	// the pool's moved by half a core since it was found: the room the
	// ceiling was measured in is not the room there is.
	DefaultLoadChange = 0.5
)

// Policy says how to size a pool. Start from DefaultPolicy and change
// fields: a zero field means zero (no tolerance, no window, no cooldown,
// no ceiling), except the few where zero cannot mean anything, which New
// fills in (Metric, Target, Sync, Ceiling.Settle, Ceiling.Confidence). YAML and JSON decode
// onto the defaults, so fields left out keep them.
type Policy struct {
	// Min and Max bound the pool: 0 <= Min <= Max, Max >= 1. With Min 0
	// the pool scales to zero after IdleTimeout without work.
	Min int `yaml:"min" json:"min"`
	Max int `yaml:"max" json:"max"`
	// Metric is backlog, busy or cpu (see the Metric constants).
	Metric string `yaml:"metric" json:"metric"`
	// Target is the metric's value per VM to track; 0 is the metric's
	// default (Slots for backlog, 0.8 for busy and cpu).
	Target float64 `yaml:"target" json:"target"`
	// Tolerance: no change while |metric/target - 1| <= Tolerance.
	Tolerance float64 `yaml:"tolerance" json:"tolerance"`
	// Steps, when set, replace target tracking (and its tolerance) with
	// step scaling on the same metric/target ratio.
	Steps []Step `yaml:"steps,omitempty" json:"steps,omitempty"`
	// ScaleUpWindow and ScaleDownWindow stabilise the recommendation:
	// scale-up follows the lowest recommendation over ScaleUpWindow,
	// scale-down the highest over ScaleDownWindow (HPA semantics), and
	// at most one scale-in happens per ScaleDownWindow.
	ScaleUpWindow   Duration `yaml:"scale_up_window" json:"scale_up_window"`
	ScaleDownWindow Duration `yaml:"scale_down_window" json:"scale_down_window"`
	// MaxStepUp and MaxStepDown bound the VMs added or removed by one
	// action; 0 is no bound.
	MaxStepUp   int `yaml:"max_step_up" json:"max_step_up"`
	MaxStepDown int `yaml:"max_step_down" json:"max_step_down"`
	// CooldownOut follows a scale-out: no action of either kind until it
	// passes, because the metric does not yet show the new VMs.
	// CooldownIn follows a scale-in: no further scale-in until it passes.
	// A scale-out right after a scale-in is allowed: a surge must not
	// wait. (The HPA has no cooldown; EC2 has one for every action.)
	CooldownOut Duration `yaml:"cooldown_out" json:"cooldown_out"`
	CooldownIn  Duration `yaml:"cooldown_in" json:"cooldown_in"`
	// IdleTimeout: with Min 0, scale to zero after no backlog and nothing
	// in flight for this long.
	IdleTimeout Duration `yaml:"idle_timeout" json:"idle_timeout"`
	// Sync is the runner's tick period; Decide itself uses Signals.Time.
	Sync    Duration      `yaml:"sync" json:"sync"`
	Ceiling CeilingPolicy `yaml:"ceiling" json:"ceiling"`
	// Warm is how many paused, booted VMs the runner keeps ready to
	// resume; they do not count toward the pool's size.
	Warm int `yaml:"warm" json:"warm"`
}

// Step is one EC2-style step adjustment: when Lower <= metric/target <
// Upper, add Adjust VMs (negative removes). Upper 0 means no upper bound.
// A ratio no step covers changes nothing.
type Step struct {
	Lower  float64 `yaml:"lower" json:"lower"`
	Upper  float64 `yaml:"upper" json:"upper"`
	Adjust int     `yaml:"adjust" json:"adjust"`
}

// CeilingPolicy configures the throughput ceiling: the pool size beyond
// which added VMs stop raising the completion rate (see doc.go).
type CeilingPolicy struct {
	// Enabled turns on both mechanisms, the host CPU gate and the
	// completion-rate probe.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// MinGain is the fraction of its fair share of the completion rate
	// an added VM must add.
	MinGain float64 `yaml:"min_gain" json:"min_gain"`
	// Settle is how long the pool must run at a size, all VMs ready and
	// partitions waiting throughout, before its rate counts.
	Settle Duration `yaml:"settle" json:"settle"`
	// HostCPU is the share of the host's CPUs the host prior lets the
	// pool count on (0 disables the prior). The prior predicts each size's
	// throughput from the spare CPU; it is measured on the machine vmctl
	// runs on, so set 0 when the pool's VMs run elsewhere.
	HostCPU float64 `yaml:"host_cpu" json:"host_cpu"`
	// Confidence is the level of the probe's interval: a ceiling is
	// declared only when the whole interval of the gain is below MinGain.
	Confidence float64 `yaml:"confidence" json:"confidence"`
	// Expire lifts a ceiling this long after it was found, to probe
	// again; 0 keeps it for the job.
	Expire Duration `yaml:"expire" json:"expire"`
	// LoadChange lifts a ceiling when the host's CPU load from outside
	// the pool moved by this many cores since it was found; 0 disables.
	LoadChange float64 `yaml:"load_change" json:"load_change"`
}

// DefaultPolicy is target tracking on the backlog with the defaults above.
func DefaultPolicy() Policy {
	return Policy{
		Min:             0,
		Max:             DefaultMax,
		Metric:          MetricBacklog,
		Tolerance:       DefaultTolerance,
		ScaleUpWindow:   D(DefaultScaleUpWindow),
		ScaleDownWindow: D(DefaultScaleDownWindow),
		MaxStepUp:       DefaultMaxStepUp,
		MaxStepDown:     DefaultMaxStepDown,
		CooldownOut:     D(DefaultCooldownOut),
		CooldownIn:      D(DefaultCooldownIn),
		IdleTimeout:     D(DefaultIdleTimeout),
		Sync:            D(DefaultSync),
		Ceiling: CeilingPolicy{
			Enabled:    true,
			MinGain:    DefaultMinGain,
			Settle:     D(DefaultSettle),
			HostCPU:    DefaultHostCPU,
			Confidence: DefaultConfidence,
			Expire:     D(DefaultExpire),
			LoadChange: DefaultLoadChange,
		},
	}
}

// withDefaults fills the fields whose zero has no meaning of its own.
func (p Policy) withDefaults() Policy {
	if p.Metric == "" {
		p.Metric = MetricBacklog
	}
	if p.Target == 0 {
		switch p.Metric {
		case MetricBusy:
			p.Target = DefaultBusyTarget
		case MetricCPU:
			p.Target = DefaultCPUTarget
		}
		// Backlog's default, Slots, comes with each Signals.
	}
	if p.Sync.Duration == 0 {
		p.Sync = D(DefaultSync)
	}
	if p.Ceiling.Settle.Duration == 0 {
		p.Ceiling.Settle = D(DefaultSettle)
	}
	if p.Ceiling.Confidence == 0 {
		p.Ceiling.Confidence = DefaultConfidence
	}
	p.Steps = append([]Step(nil), p.Steps...)
	return p
}

// target is the metric's target for s: the policy's, or Slots for the
// backlog metric when the policy leaves it 0.
func (p *Policy) target(s Signals) float64 {
	if p.Target > 0 {
		return p.Target
	}
	return float64(max(1, s.Slots))
}
