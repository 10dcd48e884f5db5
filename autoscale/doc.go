// Package autoscale sizes a job's VM pool from measured load.
//
// It is split the way the Kubernetes HPA is: the runner (package jobs) is
// the signal source and the actuator; Controller is the pure calculator
// and stabiliser, a function of the Signals it is given, their
// timestamps and its own state, with no clock of its own, so every rule
// is table-tested with made-up times. Simulate drives the same
// Controller against a model of a CPU-bound host, to compare policies
// with fixed pools before running real VMs.
//
// # Rules
//
// Each tick, Decide applies in order (Decision.Rule names the last one
// that changed the size):
//
//  1. Recommendation. Target tracking: ceil(current × metric/target),
//     where current is Ready+Booting (paused warm VMs do not count); an
//     empty pool with work asks for ceil(work/target). Or EC2-style
//     step scaling on the same metric/target ratio.
//  2. Tolerance: within ±Tolerance of the target, keep the size.
//  3. Windows (HPA): scale up to the lowest recommendation of the last
//     ScaleUpWindow, down to the highest of the last ScaleDownWindow.
//     Further, a scale-in needs ScaleDownWindow of observations since
//     the last scale-in, so there is at most one scale-in per window.
//  4. Cooldown (EC2): nothing for CooldownOut after a scale-out (its VMs
//     are not yet in the metric), no scale-in for CooldownIn after a
//     scale-in. A scale-out after a scale-in never waits.
//  5. Max step per action, then 6. Min and Max.
//  7. Idle: while partitions are queued or running, at least one VM;
//     with Min 0, zero VMs after IdleTimeout without work, skipping the
//     window, cooldown and step rules that would otherwise remove an
//     idle pool one VM at a time.
//  8. Throughput ceiling, below.
//
// # Throughput ceiling
//
// Under TCG every vCPU is a host thread, so on a 2-core host two busy
// 1-vCPU VMs use the whole machine: a third adds no cycles, only
// contention and its own boot. Target tracking cannot see this, as the
// backlog per VM keeps asking for more. The ceiling finds the size beyond
// which added VMs stop raising the pool's throughput; a false ceiling is
// worse than none, so it is declared only on evidence.
//
// Throughput is measured as the guest CPU the pool's VMs deliver
// (Ready × GuestCPU × VCPUs, in cores): the completion rate normalised by
// the work each partition takes, so partitions of mixed sizes, or sizes
// that drift over a job, do not move it. A signal source without guest
// CPU (host processes) is measured by completions instead, which mixed
// sizes make noisy: the interval below then keeps probes undecided rather
// than wrong.
//
// It is measured only over steady stretches: same size, no VM booting or
// resuming in the pool or its warm pool (Signals.WarmBooting, and a
// change of Signals.Boots between two ticks for boots too short to be
// seen), none draining, and partitions queued throughout (an emptying
// queue lowers throughput for lack of work, not capacity). A stretch is
// cut into blocks of Settle/5; the blocks of the last stretch at a size
// are its baseline once there are minBlocks of them.
//
// When the pool grows from a measured size n to m, a probe opens. Its
// blocks at m are compared with the baseline by Welch's Student-t
// interval of after/before at Ceiling.Confidence (package stats, the
// benchmarks' code). Each of the m-n added VMs should add MinGain of the
// per-VM throughput before:
//
//	need = 1 + MinGain × (m-n)/n
//
// The whole interval below need declares the ceiling n: every decision is
// then clamped to it (Rule "ceiling"), which removes the probe's VMs at
// once. The whole interval at need or above keeps m. Anything else
// extends the probe, up to maxProbeSettles × Settle, after which the pool
// keeps m undecided. Every verdict is a decision reason, logged and drawn on the
// timeline, with both throughputs and the interval.
//
// A prior from the host (Ceiling.HostCPU > 0, local hosts): with the
// host's CPUs, its utilisation and the pool's guest CPU from the last
// steady tick, the load from outside the pool is known, and so is what k
// busy VMs could deliver: min(k × VCPUs, HostCPU × CPUs − outside load).
// Growth stops where another VM is predicted to add less than MinGain of
// its share (a 2-core host: 2 1-vCPU VMs, 1 2-vCPU VM), and where the
// prior predicts room, growth does not wait for a baseline. Probes still
// run when the pool grows from a measured size, and still set a ceiling:
// the prior is evidence, not a verdict.
//
// Without the prior's word for room, scale-out beyond the largest proven
// size waits while VMs boot, while the current size is being measured
// (up to maxHoldSettles × Settle, after which it grows unmeasured rather
// than never), and while a probe is being judged; and a probe adds at
// most half the pool, so a useful VM cannot vouch for a useless one in
// the same step.
//
// A ceiling is not forever: it is lifted Ceiling.Expire after it was
// found, or as soon as the host's load from outside the pool has moved by
// Ceiling.LoadChange cores since (a neighbour stopped or started), and
// the next scale-out is probed again.
package autoscale
