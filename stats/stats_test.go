package stats

import (
	"errors"
	"math"
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

func TestRatioOfMeansMatchesWelchWorkedByHand(t *testing.T) {
	before := []float64{1.0, 1.1, 0.9, 1.05, 0.95}
	after := []float64{1.9, 2.1, 2.0, 1.8, 2.2, 2.0}
	// From first principles: means and variances of the logs, Welch's
	// standard error and degrees of freedom.
	mv := func(v []float64) (m, s2 float64) {
		for _, x := range v {
			m += math.Log(x)
		}
		m /= float64(len(v))
		for _, x := range v {
			s2 += (math.Log(x) - m) * (math.Log(x) - m)
		}
		return m, s2 / float64(len(v)-1)
	}
	mb, vb := mv(before)
	ma, va := mv(after)
	sb, sa := vb/5, va/6
	nu := (sa + sb) * (sa + sb) / (sa*sa/5 + sb*sb/4)
	if nu < 7 || nu > 10 {
		t.Fatalf("worked example's df %v out of the expected range", nu)
	}
	got, err := RatioOfMeans(before, after, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	want := math.Exp(ma - mb)
	if !relClose(got.Estimate, want, 1e-12) || got.N != 11 || got.Level != 0.9 {
		t.Fatalf("got %+v, want estimate %v, N 11", got, want)
	}
	// The interval is symmetric in logs around the estimate.
	if !relClose(math.Log(got.High)-math.Log(got.Estimate), math.Log(got.Estimate)-math.Log(got.Low), 1e-9) {
		t.Fatalf("interval not symmetric in logs: %+v", got)
	}
	// With ~8.4 df the 90% t quantile is about 1.85: margin = 1.85 × se.
	margin := math.Log(got.High) - math.Log(got.Estimate)
	if q := margin / math.Sqrt(sa+sb); q < 1.8 || q > 1.9 {
		t.Fatalf("margin is %v standard errors, want the t quantile (about 1.85)", q)
	}
}

func TestRatioOfMeansTellsGainFromNoise(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after []float64
		// below: the whole interval lies under 1.15.
		below, above bool
	}{
		{"doubled", []float64{1, 1.02, 0.98, 1.01}, []float64{2, 2.03, 1.97, 2.01}, false, true},
		{"flat", []float64{2, 2.02, 1.98, 2.01, 1.99}, []float64{2, 1.98, 2.02, 1.99, 2.01}, true, false},
		{"too noisy to say", []float64{1, 2, 0.5}, []float64{1.1, 0.6, 2.2}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iv, err := RatioOfMeans(tc.before, tc.after, 0.9)
			if err != nil {
				t.Fatal(err)
			}
			if got := iv.High < 1.15; got != tc.below {
				t.Errorf("%+v: high < 1.15 is %v, want %v", iv, got, tc.below)
			}
			if got := iv.Low >= 1.15; got != tc.above {
				t.Errorf("%+v: low >= 1.15 is %v, want %v", iv, got, tc.above)
			}
		})
	}
}

func TestRatioOfMeansNeedsTwoSamplesASideForAnInterval(t *testing.T) {
	iv, err := RatioOfMeans([]float64{1}, []float64{2, 2.1}, 0.9)
	if err != nil || !math.IsInf(iv.High, 1) || iv.Low != 0 || !relClose(iv.Estimate, math.Sqrt(4.2), 1e-9) {
		t.Fatalf("one sample before: %+v, %v", iv, err)
	}
	if _, err := RatioOfMeans(nil, []float64{1}, 0.9); err == nil {
		t.Fatal("no samples before: want an error")
	}
	if _, err := RatioOfMeans([]float64{1, 0}, []float64{1, 1}, 0.9); !errors.Is(err, ErrBadFigure) {
		t.Fatalf("a zero sample: %v, want ErrBadFigure", err)
	}
}

func TestMeanIntervalIsTheStudentTInterval(t *testing.T) {
	// mean 2, sample sd 0.1 (n-1), n 4: t(0.95, 3 df) = 2.353.
	iv, err := MeanInterval([]float64{1.9, 2.0, 2.1, 2.0}, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	sd := math.Sqrt(0.02 / 3)
	want := 2.353363 * sd / 2
	if !relClose(iv.Estimate, 2, 1e-12) || !relClose(iv.High-iv.Estimate, want, 1e-5) || !relClose(iv.Estimate-iv.Low, want, 1e-5) {
		t.Fatalf("got %+v, want 2 ± %v", iv, want)
	}
	if one, err := MeanInterval([]float64{3}, 0.9); err != nil || !math.IsInf(one.High, 1) || one.Estimate != 3 {
		t.Fatalf("one sample: %+v %v", one, err)
	}
	if _, err := MeanInterval(nil, 0.9); err == nil {
		t.Fatal("no samples: want an error")
	}
}
