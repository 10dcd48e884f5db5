package scheduler

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Verdict is what the scheduler made of one host, for `vmctl place
// --explain` and for the no-valid-host error.
type Verdict struct {
	Host, URI string
	Passed    bool
	// Filter is the first filter that rejected the host (empty if passed).
	Filter string
	// Reason is the filter's explanation, with the numbers it used.
	Reason string
	// Weights are the per-weigher normalised (0..1) values, before the
	// policy's multipliers; passed hosts only.
	Weights map[string]float64
	Score   float64
}

// Placement is the scheduler's answer. On failure Host is the zero Host
// and Pinning nil, but Verdicts still say why each host was rejected.
type Placement struct {
	Request Request
	Host    Host
	// Pinning is set for a Pin request.
	Pinning  *Pinning
	Verdicts []Verdict
}

// scoreEpsilon treats scores this close as a tie, so float rounding in
// the sums never outranks the name order.
const scoreEpsilon = 1e-9

// Place chooses a host for req: every filter runs on every host, the hosts
// that pass are weighed, the highest score wins (ties go to the first name),
// and for a Pin request the CPUs and NUMA cells are chosen on that host.
// Place only reads hosts.
//
// The Placement is returned even on ErrNoValidHost, so a caller can print
// the verdicts; its Verdicts list passed hosts by score (highest first),
// then rejected hosts, each group by name.
func Place(hosts []Host, req Request, pol Policy) (*Placement, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	chain := filterChain(hosts, req)
	verdicts := make([]Verdict, len(hosts))
	caps := make([]*capacity, len(hosts))
	var passed []int
	for i := range hosts {
		caps[i] = newCapacity(&hosts[i], &pol)
		v := Verdict{Host: hosts[i].Name, URI: hosts[i].URI, Passed: true}
		for _, f := range chain {
			if ok, why := f.Check(caps[i], req); !ok {
				v.Passed, v.Filter, v.Reason = false, f.Name(), why
				break
			}
		}
		verdicts[i] = v
		if v.Passed {
			passed = append(passed, i)
		}
	}
	cands := make([]*capacity, len(passed))
	for j, i := range passed {
		cands[j] = caps[i]
	}
	weights, scores := weigh(cands, req, &pol)
	for j, i := range passed {
		verdicts[i].Weights, verdicts[i].Score = weights[j], scores[j]
	}

	order := make([]int, len(hosts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		va, vb := &verdicts[order[a]], &verdicts[order[b]]
		if va.Passed != vb.Passed {
			return va.Passed
		}
		if math.Abs(va.Score-vb.Score) > scoreEpsilon {
			return va.Score > vb.Score
		}
		return va.Host < vb.Host
	})
	pl := &Placement{Request: req, Verdicts: make([]Verdict, len(order))}
	for j, i := range order {
		pl.Verdicts[j] = verdicts[i]
	}
	if len(passed) == 0 {
		return pl, noValidHost(req, pl.Verdicts)
	}
	best := order[0]
	if req.Pin {
		p, err := pin(caps[best], req, pol.pack())
		if err != nil {
			return pl, err
		}
		pl.Pinning = p
	}
	pl.Host = hosts[best]
	return pl, nil
}

// noValidHost lists each host and why it was filtered out.
func noValidHost(req Request, verdicts []Verdict) error {
	vm := "the vm"
	if req.Name != "" {
		vm = "vm " + req.Name
	}
	if len(verdicts) == 0 {
		return fmt.Errorf("%w for %s (%s): no hosts to choose from", ErrNoValidHost, vm, req.describe())
	}
	why := make([]string, len(verdicts))
	for i, v := range verdicts {
		if v.Filter == FilterReachable {
			why[i] = fmt.Sprintf("%s: unreachable: %s", v.Host, v.Reason)
		} else {
			why[i] = fmt.Sprintf("%s: %s: %s", v.Host, v.Filter, v.Reason)
		}
	}
	return fmt.Errorf("%w for %s (%s): %s", ErrNoValidHost, vm, req.describe(), strings.Join(why, "; "))
}
