package scheduler

// Weighers rank the hosts that passed every filter. Like Nova's weighers,
// each yields a raw measure per host, normalised across the candidates
// with min-max to 0..1 (Nova's nova.weights.normalize: when every host has
// the same value, all get 0), multiplied by its weight and summed.
//
// Differences from Nova:
//   - Nova flips spread to pack with negative multipliers; here weights are
//     >= 0 and Policy.Weigher "pack" inverts each normalised value (1 - n),
//     so every value shown in --explain stays in 0..1 and larger is always
//     better.
//   - "ram" is the allocatable memory left after the VM lands (considered
//     memory × ratio − reserve − VMs − request), where Nova's RAMWeigher
//     uses the compute node's free_ram_mb before it; "vcpu" is the shared
//     vCPU capacity left (Nova's CPUWeigher), with pinned CPUs taken out of
//     the pool. Min-max makes a constant per-request shift irrelevant.
//   - A host's Limits.Weight multiplies its final score. Nova has no
//     per-host factor (its closest is per-aggregate *_weight_multiplier
//     metadata, applied per weigher). Being a factor, it cannot lift a host
//     whose score is 0 (the emptiest under pack, the fullest under spread).

// weigher measures free capacity; larger means more free.
type weigher interface {
	Name() string
	Value(c *capacity, req Request) float64
}

// Weigher names, as keys of Policy.Weights and Verdict.Weights.
const (
	WeigherRAM  = "ram"
	WeigherVCPU = "vcpu"
)

func weighers() []weigher { return []weigher{ramWeigher{}, vcpuWeigher{}} }

func weigherNames() []string {
	var out []string
	for _, w := range weighers() {
		out = append(out, w.Name())
	}
	return out
}

// ramWeigher: allocatable memory left after placement, in MiB.
type ramWeigher struct{}

func (ramWeigher) Name() string { return WeigherRAM }

func (ramWeigher) Value(c *capacity, req Request) float64 {
	return float64(c.memLeft() - req.MemoryMiB)
}

// vcpuWeigher: shared vCPU capacity left after placement.
type vcpuWeigher struct{}

func (vcpuWeigher) Name() string { return WeigherVCPU }

func (vcpuWeigher) Value(c *capacity, req Request) float64 { return c.vcpuLeftAfter(req) }

// weigh scores the candidates: per-weigher normalised values and the final
// score of each, in the order given.
func weigh(cands []*capacity, req Request, pol *Policy) ([]map[string]float64, []float64) {
	norm := make([]map[string]float64, len(cands))
	scores := make([]float64, len(cands))
	for i := range cands {
		norm[i] = map[string]float64{}
	}
	for _, w := range weighers() {
		raw := make([]float64, len(cands))
		for i, c := range cands {
			raw[i] = w.Value(c, req)
		}
		mult := pol.multiplier(w.Name())
		for i, n := range normalize(raw, pol.pack()) {
			norm[i][w.Name()] = n
			scores[i] += mult * n
		}
	}
	for i, c := range cands {
		scores[i] *= c.weight
	}
	return norm, scores
}

// normalize maps values to 0..1 with min-max; inverted for pack. All equal
// (including a single host) gives 0 to every host, as Nova does: no weigher
// preference, and a host weight cannot change that (0 × w), so the other
// weighers and then host names decide.
func normalize(vals []float64, invert bool) []float64 {
	out := make([]float64, len(vals))
	if len(vals) == 0 {
		return out
	}
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi == lo {
		return out
	}
	for i, v := range vals {
		n := (v - lo) / (hi - lo)
		if invert {
			n = 1 - n
		}
		out[i] = n
	}
	return out
}
