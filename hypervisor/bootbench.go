package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"
)

// BootBenchOptions configures BootBench.
type BootBenchOptions struct {
	Count     int
	VCPUs     int
	MemoryMiB int
	Accel     Accel
	Image     BootImage
	// StockImage, if set, is what the stock profile boots: the reference
	// is a stock libvirt boot of the distribution's kernel, whichever
	// kernel vmctl's own profile runs.
	StockImage *BootImage
	// Profiles to measure, in alternation so drift hits each equally.
	Profiles []BootProfile
	// Progress, if set, is called after each boot.
	Progress func(profile BootProfile, i int, d time.Duration)
}

// BootSample is one create-to-agent-ready measurement.
type BootSample struct {
	Profile BootProfile   `json:"profile"`
	Ready   time.Duration `json:"ready_ns"`
	// GuestUptime is the guest's own uptime when it answered: the part
	// of Ready spent inside the guest kernel and agent.
	GuestUptime float64 `json:"guest_uptime_s"`
}

// BootSummary is the distribution for one profile.
type BootSummary struct {
	Profile BootProfile   `json:"profile"`
	N       int           `json:"n"`
	P50     time.Duration `json:"p50_ns"`
	P90     time.Duration `json:"p90_ns"`
	Max     time.Duration `json:"max_ns"`
	Min     time.Duration `json:"min_ns"`
}

// BootBenchResult holds every sample and the per-profile summaries.
type BootBenchResult struct {
	Accel  AccelChoice `json:"accel"`
	Kernel string      `json:"kernel_release"`
	PVH    bool        `json:"pvh"`
	// StockKernel is the kernel the stock profile booted.
	StockKernel string        `json:"stock_kernel_release"`
	Samples     []BootSample  `json:"samples"`
	Summary     []BootSummary `json:"summary"`
	// Ratio is fast p50 / stock p50 when both were measured.
	Ratio float64 `json:"ratio_p50,omitempty"`
}

// BootBench creates and removes VMs one at a time, alternating profiles, and
// measures create-to-agent-ready for each. A VM it cannot remove is named
// in a *LeftBehind error returned with the complete result.
func (m *Manager) BootBench(ctx context.Context, o BootBenchOptions) (*BootBenchResult, error) {
	if o.Count < 1 {
		return nil, fmt.Errorf("%w: count %d must be at least 1", ErrInvalidSpec, o.Count)
	}
	if len(o.Profiles) == 0 {
		o.Profiles = []BootProfile{ProfileFast, ProfileStock}
	}
	accel, err := m.ChooseAccel(ctx, o.Accel)
	if err != nil {
		return nil, err
	}
	stock := o.Image
	if o.StockImage != nil {
		stock = *o.StockImage
	}
	res := &BootBenchResult{Accel: accel, Kernel: o.Image.Release, PVH: o.Image.PVH, StockKernel: stock.Release}
	// The VMs live only as long as this process: if it dies between a
	// create and its remove, `vmctl gc` knows the VM is garbage.
	owner := SelfOwner()
	var left []Leftover
	for i := 0; i < o.Count; i++ {
		for _, p := range o.Profiles {
			name := fmt.Sprintf("vmctl-bench-%d-%s-%d", os.Getpid(), p, i)
			img := o.Image
			if p == ProfileStock {
				img = stock
			}
			cr, err := m.Create(ctx, CreateRequest{Name: name, VCPUs: o.VCPUs, MemoryMiB: o.MemoryMiB, Accel: accel.Mode, Image: img, Profile: p, Owner: owner})
			if err != nil {
				return nil, errors.Join(fmt.Errorf("boot %d (%s): %w", i, p, err), JoinLeftovers(left))
			}
			// The sample is good whether or not the VM goes: one that
			// stays is named in the result's error, and the run goes on.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), BenchRemoveTimeout)
			rmErr := LeftVM(m.backend.URI(), name, true, m.Remove(rctx, name))
			cancel()
			left = append(left, Leftovers(rmErr)...)
			if rmErr != nil && !errors.Is(rmErr, ErrLeftBehind) {
				return nil, errors.Join(fmt.Errorf("boot %d (%s): %w", i, p, rmErr), JoinLeftovers(left))
			}
			s := BootSample{Profile: p, Ready: cr.Ready}
			if cr.Hello != nil {
				s.GuestUptime = cr.Hello.UptimeSeconds
			}
			res.Samples = append(res.Samples, s)
			if o.Progress != nil {
				o.Progress(p, i, cr.Ready)
			}
		}
	}
	p50 := map[BootProfile]time.Duration{}
	for _, p := range o.Profiles {
		var ds []time.Duration
		for _, s := range res.Samples {
			if s.Profile == p {
				ds = append(ds, s.Ready)
			}
		}
		sum := summarize(p, ds)
		p50[p] = sum.P50
		res.Summary = append(res.Summary, sum)
	}
	if p50[ProfileStock] > 0 && p50[ProfileFast] > 0 {
		res.Ratio = float64(p50[ProfileFast]) / float64(p50[ProfileStock])
	}
	return res, JoinLeftovers(left)
}

// BenchRemoveTimeout bounds removing one benchmark VM. It leaves room for
// a libvirt connection that is re-established while libvirtd restarts.
const BenchRemoveTimeout = 3 * time.Minute

func summarize(p BootProfile, ds []time.Duration) BootSummary {
	s := BootSummary{Profile: p, N: len(ds)}
	if len(ds) == 0 {
		return s
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	s.P50 = Percentile(sorted, 0.50)
	s.P90 = Percentile(sorted, 0.90)
	return s
}

// Percentile interpolates linearly between the closest ranks of a sorted
// sample (the common "type 7" definition, as in R and NumPy).
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + time.Duration(frac*float64(sorted[lo+1]-sorted[lo]))
}
