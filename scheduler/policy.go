package scheduler

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Weigher senses.
const (
	// WeighSpread prefers the host with the most free capacity (Nova's
	// default, positive multipliers).
	WeighSpread = "spread"
	// WeighPack prefers the host with the least free capacity that still
	// fits (Nova's negative multipliers), keeping other hosts empty.
	WeighPack = "pack"
)

// Policy holds the fleet-wide scheduling defaults. A host's Limits, when
// set, override the matching field for that host.
type Policy struct {
	// CPUAllocationRatio is floating vCPUs per host CPU: default 4.0 (Nova's
	// current default; it was 16.0 before Stein).
	CPUAllocationRatio float64
	// RAMAllocationRatio is guest memory per host memory: default 1.0. At
	// 1.0 or below the host's reported free memory is checked too.
	RAMAllocationRatio float64
	// ReserveMiB is host memory never given to guests: default 512, for
	// libvirtd, QEMU's own ~90 MiB per VM overhead and the page cache.
	ReserveMiB int
	// Weigher is "spread" (default: most free first) or "pack" (least free
	// first). "" means spread.
	Weigher string
	// Weights multiplies each weigher, e.g. {"ram": 1, "vcpu": 1}. nil means
	// every weigher at 1; a weigher absent from a non-nil map is also 1, so
	// {"vcpu": 0} switches the vcpu weigher off and keeps ram.
	Weights map[string]float64
}

// DefaultPolicy is Nova's defaults where Nova has one.
func DefaultPolicy() Policy {
	return Policy{
		CPUAllocationRatio: 4.0,
		RAMAllocationRatio: 1.0,
		ReserveMiB:         512,
		Weigher:            WeighSpread,
	}
}

// Validate checks every field. It does not change the policy.
func (p *Policy) Validate() error {
	switch {
	case !positive(p.CPUAllocationRatio):
		return fmt.Errorf("%w: cpu allocation ratio must be > 0 (got %v); the default is %v", ErrInvalidPolicy, p.CPUAllocationRatio, DefaultPolicy().CPUAllocationRatio)
	case !positive(p.RAMAllocationRatio):
		return fmt.Errorf("%w: ram allocation ratio must be > 0 (got %v); the default is %v", ErrInvalidPolicy, p.RAMAllocationRatio, DefaultPolicy().RAMAllocationRatio)
	case p.ReserveMiB < 0:
		return fmt.Errorf("%w: memory reserve must be >= 0 MiB (got %d)", ErrInvalidPolicy, p.ReserveMiB)
	case p.Weigher != "" && p.Weigher != WeighSpread && p.Weigher != WeighPack:
		return fmt.Errorf("%w: unknown weigher %q: use %q (most free first) or %q (least free first)", ErrInvalidPolicy, p.Weigher, WeighSpread, WeighPack)
	}
	names := weigherNames()
	keys := make([]string, 0, len(p.Weights))
	for k := range p.Weights {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same bad key every time
	for _, k := range keys {
		w := p.Weights[k]
		if !slices.Contains(names, k) {
			return fmt.Errorf("%w: unknown weigher %q in weights: known are %s", ErrInvalidPolicy, k, strings.Join(names, ", "))
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("%w: weight %s must be a finite number >= 0 (got %v); for least-free-first use weigher %q", ErrInvalidPolicy, k, w, WeighPack)
		}
	}
	return nil
}

// pack reports whether the policy prefers the fullest host.
func (p *Policy) pack() bool { return p.Weigher == WeighPack }

// multiplier is the weight of the named weigher.
func (p *Policy) multiplier(name string) float64 {
	if w, ok := p.Weights[name]; ok {
		return w
	}
	return 1
}
