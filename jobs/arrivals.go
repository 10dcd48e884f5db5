package jobs

import (
	"fmt"
	"time"
)

// Arrivals releases a job's partitions in waves instead of all at once, so
// a pool meets load that comes and goes (a burst, a lull, another burst),
// which is what an autoscaler is for. Released partitions are real work;
// only their start is held back. The zero value releases everything at once.
type Arrivals struct {
	// Waves is how many equal groups the partitions arrive in, in order.
	Waves int `json:"waves,omitempty"`
	// Every is the time between the releases of two waves.
	Every time.Duration `json:"every_ns,omitempty"`
}

// Validate checks the schedule against a job of n partitions.
func (a Arrivals) Validate(n int) error {
	switch {
	case a.Waves < 0:
		return fmt.Errorf("%w: --waves %d: give 1 or more waves", ErrInvalidSpec, a.Waves)
	case a.Waves > 1 && a.Every <= 0:
		return fmt.Errorf("%w: --waves %d needs --wave-every, the time between waves (e.g. 30s)", ErrInvalidSpec, a.Waves)
	case a.Waves > n:
		return fmt.Errorf("%w: --waves %d for %d partitions: a wave needs at least one partition", ErrInvalidSpec, a.Waves, n)
	}
	return nil
}

// offset is when the i-th of n partitions is released, after the start.
func (a Arrivals) offset(i, n int) time.Duration {
	if a.Waves <= 1 || n == 0 {
		return 0
	}
	return time.Duration(i*a.Waves/n) * a.Every
}
