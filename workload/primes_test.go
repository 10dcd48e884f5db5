package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestPrimesKnownCounts(t *testing.T) {
	tests := []struct {
		name     string
		from, to int64
		want     int64
	}{
		{"empty", 0, 0, 0},
		{"below two", 0, 2, 0},
		{"just two", 2, 3, 1},
		{"two and three", 0, 4, 2},
		{"below 100", 0, 100, 25},
		{"below 1000", 0, 1000, 168},
		{"even start", 10, 20, 4},      // 11 13 17 19
		{"odd prime start", 13, 14, 1}, // 13 itself
		{"odd composite start", 15, 17, 0},
		{"square of a base prime", 49, 50, 0},
		{"below 10^6", 0, 1_000_000, 78498},
		{"window at 10^9", 1_000_000_000, 1_000_001_000, 49},
		{"crosses segments", 5, 5 + 4*sieveSegment + 17, naivePrimeCount(5, 5+4*sieveSegment+17)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := countPrimes(context.Background(), tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("primes in [%d,%d) = %d, want %d", tt.from, tt.to, got, tt.want)
			}
		})
	}
}

// TestPrimesMatchesTrialDivision compares every small range with a count
// done the obvious way.
func TestPrimesMatchesTrialDivision(t *testing.T) {
	for from := int64(0); from < 60; from++ {
		for to := from; to < 140; to += 7 {
			got, err := countPrimes(context.Background(), from, to)
			if err != nil {
				t.Fatal(err)
			}
			if want := naivePrimeCount(from, to); got != want {
				t.Fatalf("[%d,%d): got %d, want %d", from, to, got, want)
			}
		}
	}
}

func naivePrimeCount(from, to int64) int64 {
	var n int64
	for i := from; i < to; i++ {
		if isPrimeByTrialDivision(i) {
			n++
		}
	}
	return n
}

func isPrimeByTrialDivision(n int64) bool {
	if n < 2 {
		return false
	}
	for d := int64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func TestPrimesTenMillion(t *testing.T) {
	res := mustRun(t, "primes", map[string]string{"to": "10000000"}, nil)
	if res.Value != 664579 || res.Unit != UnitPrimes || res.Ops != 10_000_000 || res.Text != "[0,10000000)" {
		t.Errorf("result %+v, want 664579 primes in [0,10000000)", res)
	}
}

func TestPrimesPartitionsSumToWhole(t *testing.T) {
	tests := []struct {
		name       string
		args       map[string]string
		partitions int
		want       int64
	}{
		{"ten million in 4", map[string]string{"to": "10000000"}, 4, 664579},
		{"ten million in 7", map[string]string{"to": "10000000"}, 7, 664579},
		{"more partitions than numbers", map[string]string{"from": "0", "to": "5"}, 9, 2},
		{"offset range in 3", map[string]string{"from": "100", "to": "1000"}, 3, 168 - 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, _ := strconv.ParseInt(tt.args["from"], 10, 64)
			to, _ := strconv.ParseInt(tt.args["to"], 10, 64)
			var sum int64
			next := from
			for i := range tt.partitions {
				res := mustRun(t, "primes", tt.args, map[string]string{
					EnvPartition: strconv.Itoa(i), EnvPartitions: strconv.Itoa(tt.partitions),
				})
				sum += int64(res.Value)
				// Slices must tile the range: each starts where the last ended.
				var lo, hi int64
				if _, err := fmt.Sscanf(res.Text, "[%d,%d)", &lo, &hi); err != nil || lo != next || hi < lo {
					t.Errorf("partition %d covers %q, want it to start at %d", i, res.Text, next)
				}
				next = hi
			}
			if sum != tt.want {
				t.Errorf("sum over %d partitions = %d, want %d", tt.partitions, sum, tt.want)
			}
			if next != to {
				t.Errorf("last partition ends at %d, want %d", next, to)
			}
		})
	}
}

func TestPrimesBadPartitionEnv(t *testing.T) {
	tests := []struct {
		name, wantVar string
		env           map[string]string
	}{
		{"index not a number", EnvPartition, map[string]string{EnvPartition: "x", EnvPartitions: "2"}},
		{"index past the count", EnvPartition, map[string]string{EnvPartition: "2", EnvPartitions: "2"}},
		{"zero partitions", EnvPartitions, map[string]string{EnvPartitions: "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), "primes", map[string]string{"to": "100"}, envOf(tt.env))
			if !errors.Is(err, ErrBadArgument) || !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("error = %v, want ErrBadArgument naming %s", err, tt.wantVar)
			}
		})
	}
}

func TestPrimesCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := countPrimes(ctx, 0, 10*sieveSegment)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

func TestIsqrt(t *testing.T) {
	for _, n := range []int64{0, 1, 2, 3, 4, 15, 16, 17, 1<<40 - 1, 1 << 40, 999_999_999_999} {
		r := isqrt(n)
		if r*r > n || (r+1)*(r+1) <= n {
			t.Errorf("isqrt(%d) = %d", n, r)
		}
	}
}
