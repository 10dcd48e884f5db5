package jobs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sirupsen/logrus"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/scheduler"
)

// memberState is where a pool member is in its life.
type memberState int

const (
	memberBooting memberState = iota
	memberReady
	memberDraining
)

// member is one pool position: a worker being started, serving, or
// draining before it is removed.
type member struct {
	name    string
	state   memberState
	w       *Worker
	created time.Time
	readyAt time.Time
	// stopNext ends the member's wait for partitions (drain); partitions
	// already running finish.
	nextCtx  context.Context
	stopNext context.CancelFunc
	inflight int
	// firstTask is when the member's first partition started, for
	// start-to-first-partition latency.
	firstTask time.Time
	warm      bool
	// lastCPU is the previous CPU-time reading, for utilisation deltas.
	lastCPU   time.Duration
	lastCPUAt time.Time
}

// StartSample is how long a pool member took from the decision to start it
// until it was ready and until its first partition began.
type StartSample struct {
	Worker         string        `json:"worker"`
	Kind           string        `json:"kind"` // cold (boot) or warm (resume)
	Ready          time.Duration `json:"ready_ns"`
	FirstPartition time.Duration `json:"first_partition_ns,omitempty"`
}

// pool keeps the job's workers: a fixed number, or as many as the
// autoscaler asks for. Positions that lose their worker replace it.
type pool struct {
	r    *Runner
	q    *queue
	ctx  context.Context
	fail context.CancelCauseFunc
	base string

	mu      sync.Mutex
	members map[*member]bool
	warm    []*Worker
	// warmSince is when each warm worker was paused, index for index.
	warmSince []time.Time
	warmBoot  int
	// parking counts drained workers being paused into the warm pool.
	parking int
	// noWarm: the provider cannot pause (host processes), so no warm pool.
	noWarm    bool
	seq       int
	wg        sync.WaitGroup
	vmSeconds float64
	// pausedSeconds is the warm pool's paused time: memory held, no CPU.
	pausedSeconds float64
	starts        []StartSample
	stopped       bool
	// failStreak counts failed starts in a row, pool-wide; from holdAfter
	// on, growth waits until holdUntil.
	failStreak   int
	lastStartErr error
	holdUntil    time.Time
	// boots counts boots and resumes started (pool and warm pool), for
	// the autoscaler: a boot takes host CPU from the running VMs.
	boots int64
}

func newPool(ctx context.Context, fail context.CancelCauseFunc, r *Runner, q *queue, base string) *pool {
	return &pool{r: r, q: q, ctx: ctx, fail: fail, base: base, members: map[*member]bool{}}
}

// add starts n new members.
func (p *pool) add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i < n; i++ {
		m := &member{name: fmt.Sprintf("%s-%d", p.base, p.seq), created: time.Now()}
		p.seq++
		m.nextCtx, m.stopNext = context.WithCancel(p.ctx)
		p.members[m] = true
		p.wg.Add(1)
		go p.run(m)
	}
}

// drain takes n members out of service, chosen deliberately: members
// still booting first (they have done nothing yet), then idle ones, then
// the newest; never at random. Their running partitions finish.
func (p *pool) drain(n int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var cands []*member
	for m := range p.members {
		if m.state != memberDraining {
			cands = append(cands, m)
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if (a.state == memberBooting) != (b.state == memberBooting) {
			return a.state == memberBooting
		}
		if (a.inflight == 0) != (b.inflight == 0) {
			return a.inflight == 0
		}
		return a.created.After(b.created)
	})
	var names []string
	for _, m := range cands[:min(n, len(cands))] {
		m.state = memberDraining
		m.stopNext()
		names = append(names, m.name)
	}
	return names
}

// starting reports the warm pool's boots in progress and every boot or
// resume started so far.
func (p *pool) starting() (warmBooting int, boots int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.warmBoot, p.boots
}

// counts reports members by state.
func (p *pool) counts() (ready, booting, draining, warm int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for m := range p.members {
		switch m.state {
		case memberReady:
			ready++
		case memberBooting:
			booting++
		case memberDraining:
			draining++
		}
	}
	return ready, booting, draining, len(p.warm)
}

func (p *pool) ready() int {
	r, _, _, _ := p.counts()
	return r
}

// run is one member's life: start a worker (from the warm pool if one is
// there), serve partitions, and replace the worker if it is lost while the
// member is still wanted.
func (p *pool) run(m *member) {
	defer p.wg.Done()
	defer p.remove(m)
	bootFailures := 0
	bo := newStartBackoff()
	var unplacedSince time.Time
	for gen := 0; p.ctx.Err() == nil; gen++ {
		if p.draining(m) {
			return
		}
		name := m.name
		if gen > 0 {
			name = fmt.Sprintf("%s-r%d", m.name, gen)
		}
		w, warm, err := p.start(name)
		if err != nil {
			// A failed start may still leave its VM (its cleanup failed).
			p.r.recordLeftovers(hypervisor.Leftovers(err))
			if p.ctx.Err() != nil {
				return
			}
			wait := bo.NextBackOff()
			if unplaced(err) {
				if unplacedSince.IsZero() {
					unplacedSince = time.Now()
				}
				if time.Since(unplacedSince) < PlacementWait {
					p.r.Log.WithError(err).WithFields(logrus.Fields{"worker": name, "retry_in": wait.Round(time.Millisecond)}).Warn("worker cannot be placed yet")
					if !p.pause(m, wait) {
						return
					}
					continue
				}
			}
			bootFailures++
			p.bootFailed(err)
			p.r.Log.WithError(err).WithFields(logrus.Fields{"worker": name, "failures": bootFailures}).Warn("worker did not start")
			if bootFailures >= maxBootFailures {
				if p.ready() == 0 {
					p.fail(fmt.Errorf("%w: %s: %w", ErrNoWorkers, name, err))
				}
				return
			}
			if !p.pause(m, wait) {
				return
			}
			continue
		}
		bootFailures, unplacedSince = 0, time.Time{}
		bo.Reset()
		p.bootSucceeded()
		p.mu.Lock()
		m.w, m.warm, m.readyAt = w, warm, time.Now()
		if m.state == memberBooting {
			m.state = memberReady
		}
		p.mu.Unlock()
		p.r.workerUp(w)
		lost := p.serve(m)
		p.r.workerDown()
		if lost || !p.park(m, w) {
			p.stopWorker(w, m.created)
		}
		p.mu.Lock()
		kind := map[bool]string{true: "warm", false: "cold"}[warm]
		s := StartSample{Worker: w.Name, Kind: kind, Ready: m.readyAt.Sub(m.created)}
		if !m.firstTask.IsZero() {
			s.FirstPartition = m.firstTask.Sub(m.created)
		}
		p.starts = append(p.starts, s)
		p.mu.Unlock()
		if p.r.Metrics != nil {
			p.r.Metrics.ObserveStart(s.Ready, warm)
		}
		if !lost {
			return
		}
		p.r.Log.WithField("worker", w.Name).Warn("worker lost; starting a replacement")
		p.mu.Lock()
		m.created, m.firstTask = time.Now(), time.Time{}
		if m.state == memberReady {
			m.state = memberBooting
		}
		p.mu.Unlock()
	}
}

func (p *pool) draining(m *member) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return m.state == memberDraining
}

func (p *pool) remove(m *member) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.members, m)
	m.stopNext()
}

// start takes a paused worker from the warm pool, or boots a new one.
func (p *pool) start(name string) (*Worker, bool, error) {
	p.mu.Lock()
	var w *Worker
	if n := len(p.warm); n > 0 {
		w, p.warm = p.warm[n-1], p.warm[:n-1]
		p.pausedSeconds += time.Since(p.warmSince[n-1]).Seconds()
		p.warmSince = p.warmSince[:n-1]
	}
	p.mu.Unlock()
	p.mu.Lock()
	p.boots++
	p.mu.Unlock()
	// The warm pool is not refilled here: a boot now would take host CPU
	// from the very scale-out that used the warm VM (and from a ceiling
	// probe's measurement). A drained worker refills it (park), or a boot
	// once the pool is idle at its floor (scaler.refillWhenIdle).
	if w != nil {
		if err := p.r.Provider.Resume(p.ctx, w); err == nil {
			return w, true, nil
		} else {
			p.r.Log.WithError(err).WithField("worker", w.Name).Warn("warm worker did not resume; booting instead")
			p.stopWorker(w, time.Time{})
		}
	}
	w, err := p.r.Provider.Start(p.ctx, name)
	return w, false, err
}

// park pauses a drained worker into the warm pool when the pool keeps one
// and it is short: a later scale-out resumes it, and no boot is spent on a
// replacement. It reports false when the worker is not parked (the caller
// removes it).
func (p *pool) park(m *member, w *Worker) bool {
	p.mu.Lock()
	ok := m.state == memberDraining && !p.stopped && !p.noWarm &&
		len(p.warm)+p.warmBoot+p.parking < p.r.warmSize()
	if ok {
		p.parking++
	}
	p.mu.Unlock()
	if !ok {
		return false
	}
	err := p.r.Provider.Pause(p.ctx, w)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.parking--
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			p.noWarm = true
		} else {
			p.r.Log.WithError(err).WithField("worker", w.Name).Warn("drained worker did not pause; removing it")
		}
		return false
	}
	p.vmSeconds += time.Since(m.created).Seconds()
	p.warm = append(p.warm, w)
	p.warmSince = append(p.warmSince, time.Now())
	p.r.Log.WithField("worker", w.Name).Info("drained worker paused into the warm pool")
	return true
}

// refillWarm boots paused workers up to the policy's warm pool size.
func (p *pool) refillWarm() {
	want := p.r.warmSize()
	if !p.scaleOutHeld(time.Now()).IsZero() {
		return
	}
	p.mu.Lock()
	need := want - len(p.warm) - p.warmBoot
	if need <= 0 || p.stopped || p.noWarm {
		p.mu.Unlock()
		return
	}
	p.warmBoot += need
	p.boots += int64(need)
	names := make([]string, need)
	for i := range names {
		names[i] = fmt.Sprintf("%s-w%d", p.base, p.seq)
		p.seq++
	}
	p.mu.Unlock()
	for _, name := range names {
		p.wg.Add(1)
		go func(name string) {
			defer p.wg.Done()
			t0 := time.Now()
			w, err := p.r.Provider.Start(p.ctx, name)
			if err == nil {
				if err = p.r.Provider.Pause(p.ctx, w); err != nil {
					p.stopWorker(w, time.Time{})
				}
			}
			p.mu.Lock()
			// A warm VM's boot is pool cost too; its paused time is not
			// (a paused guest uses no CPU).
			p.vmSeconds += time.Since(t0).Seconds()
			p.warmBoot--
			if errors.Is(err, ErrUnsupported) {
				p.noWarm = true
			}
			keep := err == nil && !p.stopped
			if keep {
				p.warm = append(p.warm, w)
				p.warmSince = append(p.warmSince, time.Now())
			}
			p.mu.Unlock()
			p.r.recordLeftovers(hypervisor.Leftovers(err))
			if errors.Is(err, ErrUnsupported) {
				p.r.Log.WithField("provider", p.r.Provider.Kind()).Info("no warm pool: this provider cannot pause a worker")
			} else if err != nil {
				p.r.Log.WithError(err).WithField("worker", name).Warn("warm worker did not start")
			} else if !keep {
				p.stopWorker(w, time.Time{})
			}
		}(name)
	}
}

// WorkerStopTimeout bounds removing one worker. It is long enough for the
// backend to re-establish a libvirt connection while libvirtd restarts
// (seconds), and short enough that a host that is gone does not hold the
// job's end for long: a worker given up on is left behind, by name.
const WorkerStopTimeout = time.Minute

// stopWorker removes a worker even when the job's ctx has ended, and adds
// its lifetime to the pool's VM-seconds. A worker it cannot remove is
// recorded as left behind: the job's result stands, and Run names it.
func (p *pool) stopWorker(w *Worker, since time.Time) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), WorkerStopTimeout)
	defer cancel()
	if err := p.r.Provider.Stop(sctx, w); err != nil {
		p.r.Log.WithError(err).WithFields(logrus.Fields{"worker": w.Name, "host": w.Host}).Error("worker not removed")
		p.r.leftBehind(w, err)
	}
	if !since.IsZero() {
		p.mu.Lock()
		p.vmSeconds += time.Since(since).Seconds()
		p.mu.Unlock()
	}
}

// shutdown waits for every member and removes the warm pool.
func (p *pool) shutdown() {
	p.mu.Lock()
	for m := range p.members {
		m.stopNext()
	}
	p.mu.Unlock()
	p.waitMembers()
	p.mu.Lock()
	p.stopped = true
	warm := p.warm
	for _, at := range p.warmSince {
		p.pausedSeconds += time.Since(at).Seconds()
	}
	p.warm, p.warmSince = nil, nil
	p.mu.Unlock()
	for _, w := range warm {
		p.stopWorker(w, time.Time{})
	}
	p.wg.Wait()
}

// waitMembers waits until no member is left (the queue is finished, or
// every member drained or failed).
func (p *pool) waitMembers() {
	for {
		p.mu.Lock()
		n := len(p.members)
		p.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serve runs Pool.Slots partitions at a time on m's worker until the
// queue is done, m is drained, or the worker is lost (reported true).
func (p *pool) serve(m *member) (lost bool) {
	wctx, stop := context.WithCancel(m.nextCtx)
	defer stop()
	var (
		wg       sync.WaitGroup
		lostOnce sync.Once
	)
	for s := 0; s < p.r.Spec.Pool.Slots; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t, ok := p.q.next(wctx, m.w.Name, p.ready)
				if !ok {
					return
				}
				p.mu.Lock()
				m.inflight++
				if m.firstTask.IsZero() {
					m.firstTask = time.Now()
				}
				p.mu.Unlock()
				alive := p.r.attempt(p.ctx, p.fail, p.q, m.w, t)
				p.mu.Lock()
				m.inflight--
				p.mu.Unlock()
				if !alive {
					lostOnce.Do(func() { lost = true; stop() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return lost
}

// logDrained reports a scale-in.
func (p *pool) logDrained(names []string, reason string) {
	if len(names) > 0 {
		p.r.Log.WithFields(logrus.Fields{"workers": names, "reason": reason}).Info("draining")
	}
}

// Start failures. A worker that cannot be placed (no host has room now,
// or none answers) is a wait, not a boot failure: its position backs off
// and tries again for up to PlacementWait. A worker that was created but
// did not come up (its guest stopped, its agent never answered) counts
// towards maxBootFailures, and failures in a row hold the pool's growth.
const (
	startBackoffInitial = time.Second
	startBackoffMax     = 30 * time.Second
	// PlacementWait is how long a position waits for room on some host
	// before an unplaceable worker counts as a failed start.
	PlacementWait = 2 * time.Minute
	// holdAfter failed starts in a row, scale-outs and warm boots wait.
	holdAfter = 2
)

func newStartBackoff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{InitialInterval: startBackoffInitial, MaxInterval: startBackoffMax, Multiplier: 2, RandomizationFactor: 0.2}
	b.Reset()
	return b
}

// unplaced reports a start that failed before any VM was made because no
// host could take it now.
func unplaced(err error) bool {
	return errors.Is(err, scheduler.ErrNoValidHost) || errors.Is(err, hypervisor.ErrUnreachable)
}

// pause waits d, or less if the job ends or m is drained; it reports
// whether m should go on.
func (p *pool) pause(m *member, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return !p.draining(m)
	case <-m.nextCtx.Done():
		return false
	}
}

// bootFailed counts a failed start; from holdAfter in a row, growth is
// held for a doubling time (capped at startBackoffMax).
func (p *pool) bootFailed(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failStreak++
	p.lastStartErr = err
	if p.failStreak >= holdAfter {
		hold := min(startBackoffMax, startBackoffInitial<<(p.failStreak-holdAfter+1))
		p.holdUntil = time.Now().Add(hold)
	}
}

func (p *pool) bootSucceeded() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failStreak, p.lastStartErr, p.holdUntil = 0, nil, time.Time{}
}

// scaleOutHeld returns until when growth is held (zero: not held).
func (p *pool) scaleOutHeld(now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Before(p.holdUntil) {
		return p.holdUntil
	}
	return time.Time{}
}

// holdReason says why growth is held, for the log.
func (p *pool) holdReason() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%d worker starts in a row failed (last: %v)", p.failStreak, p.lastStartErr)
}
