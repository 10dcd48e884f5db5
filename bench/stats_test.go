package bench

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// relClose reports whether got is within rel of want, relatively.
func relClose(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)
}

func TestPairedRatioMatchesTheIntervalWorkedByHand(t *testing.T) {
	native := []float64{100, 102, 98, 101, 99}
	vm := []float64{50, 52, 48, 51, 49.5}

	// From first principles: the log ratios, their mean and their
	// sample standard deviation (n-1 in the denominator).
	var logs []float64
	for i := range native {
		logs = append(logs, math.Log(vm[i]/native[i]))
	}
	sum := 0.0
	for _, l := range logs {
		sum += l
	}
	mean := sum / 5
	ss := 0.0
	for _, l := range logs {
		ss += (l - mean) * (l - mean)
	}
	sd := math.Sqrt(ss / 4)
	// t(0.975, 4 degrees of freedom) from a printed table.
	const t975df4 = 2.776
	margin := t975df4 * sd / math.Sqrt(5)
	wantEst, wantLow, wantHigh := math.Exp(mean), math.Exp(mean-margin), math.Exp(mean+margin)

	got, err := PairedRatio(native, vm, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if !relClose(got.Estimate, wantEst, 1e-12) {
		t.Errorf("estimate %v, want the geometric mean %v", got.Estimate, wantEst)
	}
	// The table's t is rounded to 3 decimals, so the bounds agree to
	// about 1e-6 relative here, not to the last bit.
	if !relClose(got.Low, wantLow, 1e-5) || !relClose(got.High, wantHigh, 1e-5) {
		t.Errorf("interval [%v, %v], want [%v, %v]", got.Low, got.High, wantLow, wantHigh)
	}
	if want := (got.High - got.Low) / 2 / got.Estimate; got.HalfWidth != want {
		t.Errorf("half-width %v, want (High-Low)/2/Estimate = %v", got.HalfWidth, want)
	}
	if got.N != 5 || got.Level != 0.95 {
		t.Errorf("N %d level %v, want 5 and 0.95", got.N, got.Level)
	}
}

func TestPairedRatioIsTheGeometricMeanOfTheRatios(t *testing.T) {
	// Ratios 0.5 and 2 are equally far from 1 on a log scale: the
	// geometric mean is 1 where the arithmetic mean would say 1.25.
	got, err := PairedRatio([]float64{10, 10}, []float64{5, 20}, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if !relClose(got.Estimate, 1, 1e-12) {
		t.Errorf("estimate %v, want 1", got.Estimate)
	}
	// Logs ±ln 2: sd = ln2·√2, so the margin is t(0.975, 1)·ln 2, and
	// t(0.975, 1) = 12.706 in the table.
	wantLow := math.Exp(-12.706 * math.Ln2)
	wantHigh := math.Exp(12.706 * math.Ln2)
	if !relClose(got.Low, wantLow, 1e-3) || !relClose(got.High, wantHigh, 1e-3) {
		t.Errorf("interval [%v, %v], want about [%v, %v]", got.Low, got.High, wantLow, wantHigh)
	}
}

func TestPairedRatioOfAConstantRatioHasNoWidth(t *testing.T) {
	native := []float64{10, 20, 30, 40, 55}
	vm := make([]float64, len(native))
	for i, v := range native {
		vm[i] = 0.25 * v
	}
	got, err := PairedRatio(native, vm, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if !relClose(got.Estimate, 0.25, 1e-12) || !relClose(got.Low, 0.25, 1e-12) || !relClose(got.High, 0.25, 1e-12) {
		t.Errorf("constant 0.25 gave %+v", got)
	}
	if got.HalfWidth > 1e-12 {
		t.Errorf("half-width %v, want 0", got.HalfWidth)
	}
}

func TestPairedRatioWidensWithTheLevel(t *testing.T) {
	native := []float64{100, 102, 98, 101, 99, 100}
	vm := []float64{50, 52, 48, 51, 49.5, 50.5}
	at95, err95 := PairedRatio(native, vm, 0.95)
	at99, err99 := PairedRatio(native, vm, 0.99)
	if err := errors.Join(err95, err99); err != nil {
		t.Fatal(err)
	}
	if at95.Estimate != at99.Estimate || !(at99.Low < at95.Low && at99.High > at95.High) {
		t.Errorf("99%% interval %+v should contain the 95%% interval %+v around the same estimate", at99, at95)
	}
}

func TestPairedRatioOfOnePairHasNoInterval(t *testing.T) {
	got, err := PairedRatio([]float64{200}, []float64{50}, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if got.Estimate != 0.25 || got.N != 1 {
		t.Errorf("estimate %v N %d, want 0.25 and 1", got.Estimate, got.N)
	}
	if !math.IsInf(got.HalfWidth, 1) || !math.IsInf(got.High, 1) || got.Low != 0 {
		t.Errorf("one pair must not claim a width: %+v", got)
	}
}

func TestPairedRatioRejectsWhatHasNoRatio(t *testing.T) {
	ok := []float64{1, 2, 3}
	tests := []struct {
		name       string
		native, vm []float64
		level      float64
		badFigure  bool
	}{
		{name: "zero native figure", native: []float64{1, 0, 3}, vm: ok, level: 0.95, badFigure: true},
		{name: "negative VM figure", native: ok, vm: []float64{1, -2, 3}, level: 0.95, badFigure: true},
		{name: "NaN figure", native: ok, vm: []float64{1, math.NaN(), 3}, level: 0.95, badFigure: true},
		{name: "infinite figure", native: []float64{math.Inf(1), 2, 3}, vm: ok, level: 0.95, badFigure: true},
		{name: "lengths differ", native: ok, vm: ok[:2], level: 0.95},
		{name: "no pairs", level: 0.95},
		{name: "level 0", native: ok, vm: ok, level: 0},
		{name: "level 1", native: ok, vm: ok, level: 1},
		{name: "level NaN", native: ok, vm: ok, level: math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PairedRatio(tt.native, tt.vm, tt.level)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, ErrBadFigure); got != tt.badFigure {
				t.Errorf("errors.Is(%v, ErrBadFigure) = %v, want %v", err, got, tt.badFigure)
			}
		})
	}
}

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
