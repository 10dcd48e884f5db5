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
	if got := bestFixed(runs); got != 2 {
		t.Fatalf("best fixed %d, want 2 (within 5%% of the fastest, 3)", got)
	}
	runs[1].Makespan = 60 * time.Second
	if got := bestFixed(runs); got != 3 {
		t.Fatalf("best fixed %d, want 3 once 2 is 20%% slower", got)
	}
}

func TestSummarizeAutoscalePairsRounds(t *testing.T) {
	rep := autoscaleReport{Rounds: 3}
	for round, auto := range []float64{55, 50, 60} {
		rep.Runs = append(rep.Runs,
			autoscaleRun{Round: round, Mode: "fixed 1", Size: 1, Makespan: 100 * time.Second, VMSeconds: 100},
			autoscaleRun{Round: round, Mode: "fixed 2", Size: 2, Makespan: 50 * time.Second, VMSeconds: 100},
			autoscaleRun{Round: round, Mode: "autoscaled", Makespan: time.Duration(auto * float64(time.Second)), VMSeconds: 90,
				Ceilings: map[bool][]int{true: {2}}[round != 1]})
	}
	summarizeAutoscale(&rep)
	if rep.BestFixed != 2 {
		t.Fatalf("best fixed %d, want 2", rep.BestFixed)
	}
	// Geometric mean of 55/50, 50/50, 60/50.
	if r := rep.MakespanRatio; r < 1.09 || r > 1.11 {
		t.Errorf("makespan ratio %.3f, want about 1.10", r)
	}
	if iv := rep.MakespanInterval; iv == nil || iv.Low >= rep.MakespanRatio || iv.High <= rep.MakespanRatio || iv.N != 3 {
		t.Errorf("makespan interval %+v", iv)
	}
	if r := rep.VMSecondRatio; r < 0.899 || r > 0.901 {
		t.Errorf("VM-seconds ratio %.3f, want 0.9", r)
	}
	if rep.CeilingRuns != 2 || rep.CeilingSizes[2] != 2 {
		t.Errorf("ceilings: %d runs, sizes %v; want 2 runs at size 2", rep.CeilingRuns, rep.CeilingSizes)
	}
}
