package autoscale

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Trace is partitions arriving over time, for Simulate.
type Trace struct {
	Name     string
	Arrivals []Arrival
}

// Arrival is Count partitions queued At an offset from the start.
type Arrival struct {
	At    time.Duration
	Count int
}

// Total is the number of partitions in the trace.
func (t Trace) Total() int {
	n := 0
	for _, a := range t.Arrivals {
		n += a.Count
	}
	return n
}

// squareWaveEvery is how often a square wave's partitions arrive: often
// enough to look continuous next to 2 s partitions and 2 s ticks.
const squareWaveEvery = time.Second

// BurstTrace queues n partitions at the start, as a batch job does.
func BurstTrace(n int) Trace {
	return Trace{Name: fmt.Sprintf("burst %d", n), Arrivals: []Arrival{{0, n}}}
}

// StepTrace queues before partitions every interval until at, then after
// every interval until length.
func StepTrace(every time.Duration, before, after int, at, length time.Duration) Trace {
	t := Trace{Name: fmt.Sprintf("step %d→%d per %s at %s", before, after, every, at)}
	for ts := time.Duration(0); ts < length; ts += every {
		n := before
		if ts >= at {
			n = after
		}
		t.add(ts, n)
	}
	return t
}

// RampTrace queues from partitions every interval at the start, rising
// (or falling) linearly to to at length.
func RampTrace(every time.Duration, from, to int, length time.Duration) Trace {
	t := Trace{Name: fmt.Sprintf("ramp %d→%d per %s over %s", from, to, every, length)}
	for ts := time.Duration(0); ts < length; ts += every {
		f := float64(ts) / float64(length)
		t.add(ts, int(math.Round(float64(from)+f*float64(to-from))))
	}
	return t
}

// SquareWaveTrace queues high partitions a second for the first half of
// each period and low a second for the second half, for cycles periods.
func SquareWaveTrace(period time.Duration, high, low int, cycles int) Trace {
	t := Trace{Name: fmt.Sprintf("square %d/%d per s, period %s ×%d", high, low, period, cycles)}
	for c := range cycles {
		start := time.Duration(c) * period
		for ts := time.Duration(0); ts < period; ts += squareWaveEvery {
			n := high
			if ts >= period/2 {
				n = low
			}
			t.add(start+ts, n)
		}
	}
	return t
}

// BurstyTrace queues bursts of 1..maxBurst partitions at exponentially
// distributed gaps of mean meanGap over length, reproducibly from seed.
func BurstyTrace(seed int64, length, meanGap time.Duration, maxBurst int) Trace {
	r := rand.New(rand.NewPCG(uint64(seed), 0x766d63746c)) // "vmctl"
	t := Trace{Name: fmt.Sprintf("bursty seed %d, mean gap %s, ≤%d", seed, meanGap, maxBurst)}
	for ts := time.Duration(0); ts < length; {
		t.add(ts, 1+r.IntN(max(1, maxBurst)))
		ts += time.Duration(r.ExpFloat64() * float64(meanGap)).Round(100 * time.Millisecond)
	}
	return t
}

func (t *Trace) add(at time.Duration, n int) {
	if n > 0 {
		t.Arrivals = append(t.Arrivals, Arrival{At: at, Count: n})
	}
}
