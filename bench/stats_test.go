package bench

import (
	"slices"
	"testing"
)

func TestPairsMatchSamplesByPairNumber(t *testing.T) {
	r := Result{Samples: []Sample{
		{Side: VM, Pair: 1, Value: 11},
		{Side: Native, Pair: 0, Value: 100},
		{Side: Native, Pair: 1, Value: 110},
		{Side: VM, Pair: 0, Value: 10},
		{Side: Native, Pair: 2, Value: 120}, // its VM run never finished
		{Side: VM, Pair: 3, Value: 13},
		{Side: VM, Pair: 3, Value: 14}, // two VM samples: which one is the pair's?
		{Side: Native, Pair: 3, Value: 130},
		{Side: VM, Pair: 5, Value: 15},
		{Side: Native, Pair: 5, Value: 150},
	}}
	native, vm := Pairs(r)
	if want := []float64{100, 110, 150}; !slices.Equal(native, want) {
		t.Errorf("native %v, want %v", native, want)
	}
	if want := []float64{10, 11, 15}; !slices.Equal(vm, want) {
		t.Errorf("vm %v, want %v", vm, want)
	}
}

func TestSamplesOfKeepsEveryRunOfASideInOrder(t *testing.T) {
	r := Result{Samples: []Sample{
		{Side: VM, Pair: 1, Value: 11},
		{Side: Native, Pair: 0, Value: 100},
		{Side: VM, Pair: 0, Value: 10},
		{Side: Native, Pair: 2, Value: 120},
	}}
	if got, want := SamplesOf(r, Native), []float64{100, 120}; !slices.Equal(got, want) {
		t.Errorf("native %v, want %v", got, want)
	}
	if got, want := SamplesOf(r, VM), []float64{11, 10}; !slices.Equal(got, want) {
		t.Errorf("vm %v, want %v", got, want)
	}
}
