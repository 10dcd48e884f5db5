package workload

import (
	"context"
	"fmt"
	"math"
	"time"
)

const (
	// maxPrimesTo keeps the base sieve (all primes up to sqrt(to)) at
	// about a megabyte.
	maxPrimesTo = 1 << 40
	// sieveSegment is the number of odd numbers per segment: 256 KiB of
	// flags, which stays in a core's L2 cache.
	sieveSegment = 256 << 10
)

func primes() *builtin {
	return &builtin{
		name: "primes",
		help: "count primes in [from, to), this partition's slice of it",
		flags: []flagSpec{
			{name: "from", kind: intFlag, def: "0", max: maxPrimesTo, help: "first number"},
			{name: "to", kind: intFlag, required: true, max: maxPrimesTo, help: "end of the range, exclusive"},
		},
		check: func(a *args) error {
			if a.int("from") > a.int("to") {
				return badFlag(a.builtin, "from", "%d is after --to %d", a.int("from"), a.int("to"))
			}
			return nil
		},
		run: runPrimes,
	}
}

func runPrimes(ctx context.Context, a *args, p partition) (Result, error) {
	lo, hi := p.slice(a.int("from"), a.int("to"))
	began := time.Now()
	n, err := countPrimes(ctx, lo, hi)
	if err != nil {
		return Result{}, fmt.Errorf("workload: primes: %w", err)
	}
	return Result{
		Value:   float64(n),
		Unit:    UnitPrimes,
		Ops:     hi - lo,
		Text:    fmt.Sprintf("[%d,%d)", lo, hi),
		Seconds: time.Since(began).Seconds(),
	}, nil
}

// countPrimes counts the primes in [from, to) with a segmented sieve of
// odd numbers, checking ctx between segments.
func countPrimes(ctx context.Context, from, to int64) (int64, error) {
	var count int64
	if from <= 2 && 2 < to {
		count = 1
	}
	lo := max(from, 3) | 1 // first odd candidate
	if lo >= to {
		return count, nil
	}
	base := oddPrimesUpTo(isqrt(to - 1))
	composite := make([]bool, sieveSegment)
	for start := lo; start < to; start += 2 * sieveSegment {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		// seg[j] stands for start+2j.
		seg := composite[:min(sieveSegment, (to-start+1)/2)]
		clear(seg)
		end := start + 2*int64(len(seg))
		for _, q := range base {
			if q*q >= end {
				break
			}
			// First odd multiple of q in the segment; below q*q every
			// multiple has a smaller factor that marked it already.
			m := max(q*q, (start+q-1)/q*q)
			if m%2 == 0 {
				m += q
			}
			for j := (m - start) / 2; j < int64(len(seg)); j += q {
				seg[j] = true
			}
		}
		for _, c := range seg {
			if !c {
				count++
			}
		}
	}
	return count, nil
}

// oddPrimesUpTo returns the odd primes <= n with a plain sieve.
func oddPrimesUpTo(n int64) []int64 {
	if n < 3 {
		return nil
	}
	composite := make([]bool, n+1)
	var ps []int64
	for i := int64(3); i <= n; i += 2 {
		if composite[i] {
			continue
		}
		ps = append(ps, i)
		for j := i * i; j <= n; j += 2 * i {
			composite[j] = true
		}
	}
	return ps
}

// isqrt is floor(sqrt(n)), exact where float64 rounding is not.
func isqrt(n int64) int64 {
	r := int64(math.Sqrt(float64(n)))
	for r*r > n {
		r--
	}
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}
