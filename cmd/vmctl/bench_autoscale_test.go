package main

import (
	"testing"
	"time"
)

func TestBestFixedIsTheSmallestAsFastAsAny(t *testing.T) {
	runs := []autoscaleRun{
		{Size: 1, Makespan: 100 * time.Second},
		{Size: 2, Makespan: 52 * time.Second},
		{Size: 3, Makespan: 50 * time.Second},
		{Size: 4, Makespan: 55 * time.Second},
	}
	if got := bestFixed(runs); got.Size != 2 {
		t.Fatalf("best fixed %d, want 2 (within 5%% of the fastest, 3)", got.Size)
	}
	runs[1].Makespan = 60 * time.Second
	if got := bestFixed(runs); got.Size != 3 {
		t.Fatalf("best fixed %d, want 3 once 2 is 20%% slower", got.Size)
	}
}
