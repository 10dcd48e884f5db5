package autoscale

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Model is the host and workload a simulation runs on.
//
// CPU model, per simulation step: every VM that is booting wants one core
// (a TCG boot is CPU-bound on its first vCPU), every VM running k
// partitions wants min(k, VCPUs) cores, and idle or paused VMs want none
// (an idle TCG vCPU halts). With D cores wanted in all, each gets
//
//	share = min(1, HostCores/D) × (1 - Overhead × max(0, D - HostCores))
//
// of a core per core wanted: fair sharing, less a contention loss per
// core oversubscribed (context switches, cache and TLB thrash of TCG's
// translation caches), so too many VMs are a little worse than enough.
// A VM's partitions split its cores evenly, one core at most each.
// A warm resume takes ResumeTime of wall time and no CPU.
type Model struct {
	HostCores  float64
	BootTime   time.Duration // CPU time of a cold boot, on one core
	ResumeTime time.Duration // wall time of a warm resume
	Work       time.Duration // CPU time per partition, on one core
	// Works, when set, gives the partitions' CPU times in turn (cycling),
	// for partitions of mixed sizes; Work is then unused.
	Works    []time.Duration
	Slots    int     // partitions at once per VM
	VCPUs    int     // per VM
	Overhead float64 // contention loss per oversubscribed core
	// Neighbours are other tenants of the host: each wants Cores cores
	// from From to To, shared with the pool like its VMs.
	Neighbours []Load
	// NoGuestCPU leaves Signals.GuestCPU at 0, as a provider that cannot
	// read it does: throughput is then measured by completions alone.
	NoGuestCPU bool
}

// Load is a neighbour's CPU demand over a span of the run. A pinned
// neighbour has its cores to itself (dedicated CPUs); another shares the
// cores with the pool's VMs.
type Load struct {
	From, To time.Duration
	Cores    float64
	Pinned   bool
}

// DefaultModel is the development host: 2 cores, 3 s PVH boots under
// TCG, 2 s partitions, one slot and one vCPU per VM.
func DefaultModel() Model {
	return Model{HostCores: 2, BootTime: 3 * time.Second, ResumeTime: 300 * time.Millisecond,
		Work: 2 * time.Second, Slots: 1, VCPUs: 1, Overhead: 0.05}
}

// withDefaults fills zero fields from DefaultModel.
func (m Model) withDefaults() Model {
	d := DefaultModel()
	if m.HostCores == 0 {
		m.HostCores = d.HostCores
	}
	if m.BootTime == 0 {
		m.BootTime = d.BootTime
	}
	if m.ResumeTime == 0 {
		m.ResumeTime = d.ResumeTime
	}
	if m.Work == 0 {
		m.Work = d.Work
	}
	if m.Slots == 0 {
		m.Slots = d.Slots
	}
	if m.VCPUs == 0 {
		m.VCPUs = d.VCPUs
	}
	return m
}

// ErrInvalidSim is wrapped by Simulate's errors about its model or trace.
var ErrInvalidSim = errors.New("invalid simulation")

func (m Model) validate() error {
	if m.HostCores <= 0 || m.BootTime < 0 || m.ResumeTime < 0 || m.Work <= 0 || m.Slots < 1 || m.VCPUs < 1 ||
		m.Overhead < 0 || m.Overhead >= 1 {
		return fmt.Errorf("%w: model %+v: cores, work, slots and vcpus must be positive, times not negative, overhead in [0, 1)", ErrInvalidSim, m)
	}
	for _, w := range m.Works {
		if w <= 0 {
			return fmt.Errorf("%w: model works %v: every partition needs some CPU time", ErrInvalidSim, m.Works)
		}
	}
	for _, l := range m.Neighbours {
		if l.Cores < 0 || l.To < l.From {
			return fmt.Errorf("%w: neighbour %+v: cores >= 0 and from <= to", ErrInvalidSim, l)
		}
	}
	return nil
}

// SimResult is one simulated run.
type SimResult struct {
	Trace    string
	Makespan time.Duration // until the last partition finished
	// VMSeconds counts booting, resuming, ready and draining VMs, and the
	// warm pool's boots; paused warm VMs cost nothing.
	VMSeconds                    float64
	Actions, ScaleOuts, ScaleIns int
	// Flaps are actions reversing the previous one within the policy's
	// longer stabilisation window.
	Flaps int
	// MaxSize is the largest Ready+Booting seen (draining VMs excluded:
	// they are leaving).
	MaxSize   int
	Decisions []Decision
	Ceiling   int
	Samples   []Signals
}

// Simulation limits.
const (
	// simStep is the simulation's time step: a twentieth of the 2 s
	// tick, fine enough that partitions and boots end close to when
	// they would.
	simStep = 100 * time.Millisecond
	// simOverrun is how long past the last arrival a run may go before
	// Simulate gives up on it.
	simOverrun = 24 * time.Hour
	// rateWindowSim is how far back Signals.CompletionRate looks, as in
	// the runner.
	rateWindowSim = 10 * time.Second
)

// simEpoch is the simulated clock's start; any fixed time will do.
var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Simulate runs trace t on model m with a pool the Controller for p
// sizes, ticking every p.Sync. The pool starts at p.Min; decisions take
// effect at once (VMs then boot or drain as the model says).
func Simulate(p Policy, m Model, t Trace) (SimResult, error) {
	c, err := New(p)
	if err != nil {
		return SimResult{}, err
	}
	m = m.withDefaults()
	if err := m.validate(); err != nil {
		return SimResult{}, err
	}
	s, err := newSim(m, t, c.Policy().Sync.Duration)
	if err != nil {
		return SimResult{}, err
	}
	s.ctrl, s.warmWant = c, c.Policy().Warm
	s.flapWindow = max(c.Policy().ScaleUpWindow.Duration, c.Policy().ScaleDownWindow.Duration)
	s.start(c.Policy().Min)
	if err := s.run(); err != nil {
		return s.res, err
	}
	s.res.Ceiling, _ = c.Ceiling()
	return s.res, nil
}

// SimulateFixed runs trace t on a fixed pool of size VMs (at least 1),
// all cold booted at the start and kept to the end, sampled every
// DefaultSync. Zero model fields take DefaultModel's values, and an
// invalid model is replaced by it; a trace Simulate would refuse gives
// an empty result.
func SimulateFixed(size int, m Model, t Trace) SimResult {
	m = m.withDefaults()
	if m.validate() != nil {
		m = DefaultModel()
	}
	s, err := newSim(m, t, DefaultSync)
	if err != nil {
		return SimResult{Trace: t.Name}
	}
	s.start(max(1, size))
	s.run() //nolint:errcheck // a fixed pool of >= 1 VM always finishes
	return s.res
}

type vmState int

const (
	vmBooting  vmState = iota // cold boot, as a pool member
	vmResuming                // warm resume, as a pool member
	vmReady
	vmDraining
	vmWarmBooting // cold boot into the warm pool
	vmWarm        // paused in the warm pool
	vmGone        // removed by a scale-in
)

type simVM struct {
	state vmState
	left  float64   // boot: CPU-seconds left; resume: seconds left
	parts []float64 // CPU-seconds left of each running partition
	// used is core-seconds consumed since the last tick, for GuestCPU.
	used float64
}

// simRate is Completed at a tick, for Signals.CompletionRate.
type simRate struct {
	at   time.Duration
	done int64
}

// sim is one run's state.
type sim struct {
	m          Model
	ctrl       *Controller
	arrivals   []Arrival
	sync       time.Duration
	warmWant   int
	flapWindow time.Duration

	now       time.Duration
	vms       []*simVM
	backlog   int
	completed int64
	// boots counts boots and resumes started; dispatched counts
	// partitions handed out, for Model.Works.
	boots      int64
	dispatched int
	// hostUsed is core-seconds consumed since the last tick.
	hostUsed   float64
	lastTick   time.Duration
	rates      []simRate
	lastAction Decision
	res        SimResult
}

func newSim(m Model, t Trace, sync time.Duration) (*sim, error) {
	arr := slices.Clone(t.Arrivals)
	for _, a := range arr {
		if a.Count < 0 || a.At < 0 {
			return nil, fmt.Errorf("%w: trace %q: arrival %+v: counts and times must not be negative", ErrInvalidSim, t.Name, a)
		}
	}
	slices.SortStableFunc(arr, func(a, b Arrival) int { return cmp.Compare(a.At, b.At) })
	return &sim{m: m, arrivals: arr, sync: sync, res: SimResult{Trace: t.Name}}, nil
}

func (s *sim) start(size int) {
	for range size {
		s.vms = append(s.vms, &simVM{state: vmBooting, left: s.m.BootTime.Seconds()})
		s.boots++
	}
	s.refillWarm()
}

func (s *sim) run() error {
	end := simOverrun
	if n := len(s.arrivals); n > 0 {
		end += s.arrivals[n-1].At
	}
	nextTick := time.Duration(0)
	for {
		for len(s.arrivals) > 0 && s.arrivals[0].At <= s.now {
			s.backlog += s.arrivals[0].Count
			s.arrivals = s.arrivals[1:]
		}
		if len(s.arrivals) == 0 && s.backlog == 0 && s.running() == 0 {
			s.res.Makespan = s.now
			return nil
		}
		if s.now >= nextTick {
			s.tick()
			nextTick += s.sync
		}
		s.dispatch()
		s.advance(simStep.Seconds())
		s.now += simStep
		if s.now > end {
			return fmt.Errorf("simulate %q: not finished %s after the last arrival (%d queued, %d running)",
				s.res.Trace, simOverrun, s.backlog, s.running())
		}
	}
}

// tick samples the signals and, for an autoscaled pool, decides and acts.
func (s *sim) tick() {
	sig := s.signals()
	s.res.Samples = append(s.res.Samples, sig)
	if s.ctrl == nil {
		return
	}
	d := s.ctrl.Decide(sig)
	s.res.Decisions = append(s.res.Decisions, d)
	switch d.Action {
	case ActionScaleOut:
		s.res.ScaleOuts++
		s.scaleOut(d.Desired - d.Current)
	case ActionScaleIn:
		s.res.ScaleIns++
		s.scaleIn(d.Current - d.Desired)
	default:
		return
	}
	s.res.Actions++
	if prev := s.lastAction; prev.Action != "" && prev.Action != d.Action && d.Time.Sub(prev.Time) < s.flapWindow {
		s.res.Flaps++
	}
	s.lastAction = d
}

func (s *sim) signals() Signals {
	sig := Signals{Time: simEpoch.Add(s.now), Backlog: s.backlog, Slots: s.m.Slots, Completed: s.completed,
		Boots: s.boots, HostCPUs: int(s.m.HostCores + 0.5), VCPUs: s.m.VCPUs}
	elapsed := (s.now - s.lastTick).Seconds()
	var guest float64
	for _, v := range s.vms {
		switch v.state {
		case vmReady:
			sig.Ready++
			if elapsed > 0 {
				guest += v.used / elapsed / float64(s.m.VCPUs)
			}
		case vmBooting, vmResuming:
			sig.Booting++
		case vmDraining:
			sig.Draining++
		case vmWarm:
			sig.Warm++
		case vmWarmBooting:
			sig.WarmBooting++
		}
		sig.InFlight += len(v.parts)
		v.used = 0
	}
	if sig.Ready > 0 {
		sig.BusyRatio = float64(s.inFlightReady()) / float64(sig.Ready*s.m.Slots)
		sig.GuestCPU = guest / float64(sig.Ready)
		if s.m.NoGuestCPU {
			sig.GuestCPU = 0
		}
	}
	if elapsed > 0 {
		sig.HostCPU = min(1, s.hostUsed/elapsed/s.m.HostCores)
	}
	s.hostUsed, s.lastTick = 0, s.now

	s.rates = append(s.rates, simRate{s.now, s.completed})
	for len(s.rates) > 1 && s.now-s.rates[0].at > rateWindowSim {
		s.rates = s.rates[1:]
	}
	if first := s.rates[0]; s.now > first.at {
		sig.CompletionRate = float64(s.completed-first.done) / (s.now - first.at).Seconds()
	}
	return sig
}

func (s *sim) inFlightReady() int {
	n := 0
	for _, v := range s.vms {
		if v.state == vmReady {
			n += len(v.parts)
		}
	}
	return n
}

func (s *sim) running() int {
	n := 0
	for _, v := range s.vms {
		n += len(v.parts)
	}
	return n
}

// scaleOut resumes warm VMs first, then cold boots the rest, and boots
// replacements for the warm pool at once. (jobs' pool defers them until it
// is idle, or pauses a drained VM instead; the simulator keeps the harsher
// case, a boot during the probe that follows, for the ceiling's tests.)
func (s *sim) scaleOut(n int) {
	for _, v := range s.vms {
		if n > 0 && v.state == vmWarm {
			v.state, v.left = vmResuming, s.m.ResumeTime.Seconds()
			s.boots++
			n--
		}
	}
	for range n {
		s.vms = append(s.vms, &simVM{state: vmBooting, left: s.m.BootTime.Seconds()})
		s.boots++
	}
	s.refillWarm()
}

func (s *sim) refillWarm() {
	have := 0
	for _, v := range s.vms {
		if v.state == vmWarm || v.state == vmWarmBooting {
			have++
		}
	}
	for ; have < s.warmWant; have++ {
		s.vms = append(s.vms, &simVM{state: vmWarmBooting, left: s.m.BootTime.Seconds()})
		s.boots++
	}
}

// scaleIn removes n members, cheapest first: booting ones (nothing done
// yet), then idle ready ones, then the ready ones closest to finishing,
// which drain.
func (s *sim) scaleIn(n int) {
	cost := func(v *simVM) float64 {
		switch v.state {
		case vmBooting, vmResuming:
			return -1
		case vmReady:
			w := 0.0
			for _, p := range v.parts {
				w += p
			}
			return w
		}
		return -2 // not a member
	}
	members := slices.DeleteFunc(slices.Clone(s.vms), func(v *simVM) bool { return cost(v) == -2 })
	slices.SortStableFunc(members, func(a, b *simVM) int {
		switch ca, cb := cost(a), cost(b); {
		case ca < cb:
			return -1
		case ca > cb:
			return 1
		}
		return 0
	})
	for _, v := range members[:min(n, len(members))] {
		if len(v.parts) > 0 {
			v.state = vmDraining
		} else {
			v.state = vmGone
		}
	}
	s.vms = slices.DeleteFunc(s.vms, func(v *simVM) bool { return v.state == vmGone })
}

// dispatch gives queued partitions to ready VMs with free slots, least
// loaded first, as the runner's workers pull them.
func (s *sim) dispatch() {
	for s.backlog > 0 {
		var best *simVM
		for _, v := range s.vms {
			if v.state == vmReady && len(v.parts) < s.m.Slots && (best == nil || len(v.parts) < len(best.parts)) {
				best = v
			}
		}
		if best == nil {
			return
		}
		work := s.m.Work
		if n := len(s.m.Works); n > 0 {
			work = s.m.Works[s.dispatched%n]
		}
		s.dispatched++
		best.parts = append(best.parts, work.Seconds())
		s.backlog--
	}
}

// advance runs the CPU model (see Model) for dt seconds.
func (s *sim) advance(dt float64) {
	var demand float64
	want := func(v *simVM) float64 {
		switch v.state {
		case vmBooting, vmWarmBooting:
			return 1
		case vmReady, vmDraining:
			return float64(min(len(v.parts), s.m.VCPUs))
		}
		return 0
	}
	for _, v := range s.vms {
		demand += want(v)
	}
	// Neighbours are busy host CPU too: pinned ones take their cores
	// first, the others share what is left like VMs.
	var others, pinned float64
	for _, l := range s.m.Neighbours {
		if s.now >= l.From && s.now < l.To {
			if l.Pinned {
				pinned += l.Cores
			} else {
				others += l.Cores
			}
		}
	}
	cores := max(0.01, s.m.HostCores-min(pinned, s.m.HostCores))
	demand += others
	s.hostUsed += (min(pinned, s.m.HostCores) + others*min(1, cores/max(demand, cores))) * dt
	share := 1.0
	if demand > cores {
		share = cores / demand * max(0.1, 1-s.m.Overhead*(demand-cores))
	}
	live := s.vms[:0]
	for _, v := range s.vms {
		got := want(v) * share
		// The host spends the contention loss too: it is busy, not idle.
		s.hostUsed += want(v) * min(1, cores/max(demand, cores)) * dt
		v.used += got * dt
		switch v.state {
		case vmBooting, vmWarmBooting:
			v.left -= got * dt
			if v.left <= 1e-9 {
				if v.state == vmBooting {
					v.state = vmReady
				} else {
					v.state = vmWarm
				}
			}
		case vmResuming:
			v.left -= dt
			if v.left <= 1e-9 {
				v.state = vmReady
			}
		case vmReady, vmDraining:
			if k := len(v.parts); k > 0 {
				each := got / float64(k) * dt
				for i := range v.parts {
					v.parts[i] -= each
				}
				before := len(v.parts)
				v.parts = slices.DeleteFunc(v.parts, func(p float64) bool { return p <= 1e-9 })
				s.completed += int64(before - len(v.parts))
			}
			if v.state == vmDraining && len(v.parts) == 0 {
				continue // drained: gone
			}
		}
		live = append(live, v)
	}
	s.vms = live
	s.account(dt)
}

// account adds this step's VM-seconds and tracks the largest pool.
func (s *sim) account(dt float64) {
	size := 0
	for _, v := range s.vms {
		switch v.state {
		case vmBooting, vmResuming, vmReady:
			size++
			s.res.VMSeconds += dt
		case vmDraining, vmWarmBooting:
			s.res.VMSeconds += dt
		}
	}
	s.res.MaxSize = max(s.res.MaxSize, size)
}
