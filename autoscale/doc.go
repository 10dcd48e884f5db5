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
// contention (context switches, translation-cache thrash) and its own
// boot, which is itself CPU-bound. Target tracking cannot see this, as
// the backlog per VM keeps asking for more. Two mechanisms stop growth
// where it stops paying:
//
// Host CPU, when the runner reports it (Signals.HostCPU > 0): no
// scale-out while the host is at Ceiling.HostCPU or more, and otherwise
// at most the VMs its spare CPU could run at full tilt, estimated as
// Ready×GuestCPU/HostCPU. This is immediate and costs nothing, but sees
// only CPU and only the machine vmctl runs on.
//
// Completion rate, which sees any bottleneck (CPU, disk, a shared input
// server). The controller measures the rate (from the cumulative
// Signals.Completed) while the pool is steady: same size, no VM booting
// or draining, and partitions queued throughout. Only a non-empty
// backlog makes the rate the pool's capacity; when the queue empties
// toward the end of a job the rate falls for lack of work, and that is
// never judged. A rate over at least Ceiling.Settle and minCompletions
// partitions is the baseline for that size.
//
// When the pool grows from n to m with a baseline just measured at n, a
// probe opens. Once the pool has been steady at m for the judging span
// (Settle, at least two partition durations so the new VMs' first
// partitions weigh at most half, and at least minCompletions at the old
// rate), the rate there is compared with the baseline:
//
//	rate_after < rate_before × (1 + MinGain × (m-n)/n)
//
// means each added VM brought less than MinGain of the per-VM rate the
// pool had, and the ceiling becomes n: from then on every decision is
// clamped to it (Rule "ceiling"), which also removes the probe's VMs at
// once. Otherwise m is proven and its rate the new baseline. If the size
// changes during the span, the measurement restarts at the new size,
// still judged against n; if it falls back to n or below, the probe is
// dropped.
//
// A probe must not be blurred by later growth, and without a baseline
// there is nothing to probe from, so without host CPU evidence of room:
// scale-out beyond the largest proven size waits while VMs boot, while
// the current size is being measured (up to maxHoldSettles × Settle,
// after which it grows unmeasured rather than never), and while a probe
// is being judged; and a probe adds at most half the pool, so a useful
// VM cannot vouch for a useless one in the same step (1→3 on 2 cores
// gains 90% of one VM's share overall, though the third adds nothing).
// That costs about a boot plus Settle per step of growth, which is why
// host CPU evidence, when present, lets growth proceed unheld. A baseline
// with no completions (the start of a job) probes nothing.
//
// The ceiling is kept for the controller's life, one job: conditions
// that lift it (another tenant leaving the host) are rare within a job,
// and re-probing would repeat the cost each time.
package autoscale
