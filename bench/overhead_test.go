package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeSides returns native 100 and VM 50 times a noise factor that
// cycles through noise, and records the order of the sides.
type fakeSides struct {
	noise []float64
	i     int
	order []Side
	fail  error
}

func (f *fakeSides) Run(_ context.Context, side Side, _ Workload) (float64, string, time.Duration, error) {
	if f.fail != nil {
		return 0, "", 0, f.fail
	}
	f.order = append(f.order, side)
	n := 1.0
	if len(f.noise) > 0 {
		n = f.noise[f.i%len(f.noise)]
		f.i++
	}
	if side == Native {
		return 100, "MB/s", time.Millisecond, nil
	}
	return 50 * n, "MB/s", time.Millisecond, nil
}

var primes = Workload{Name: "primes", Args: map[string]string{"to": "10"}}

func TestMeasureConvergesOnSteadyRatio(t *testing.T) {
	f := &fakeSides{}
	plan := Plan{Target: 0.03, Level: 0.95, Warmup: 1, MinPairs: 5, MaxPairs: 50}
	r, err := Measure(context.Background(), f, primes, "1 vCPU", Shape{Accel: "tcg"}, plan, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Converged || r.Ratio.N != 5 || r.Ratio.Estimate < 0.4999 || r.Ratio.Estimate > 0.5001 {
		t.Fatalf("steady 0.5 should converge at the minimum of 5 pairs: %+v", r.Ratio)
	}
	if len(r.Samples) != 10 || r.Unit != "MB/s" || !strings.Contains(r.Stop, "reached") {
		t.Fatalf("samples %d unit %q stop %q", len(r.Samples), r.Unit, r.Stop)
	}
	// Warm-up N,V then pairs alternate N,V / V,N so drift cancels.
	want := []Side{Native, VM, Native, VM, VM, Native, Native, VM}
	for i, s := range want {
		if f.order[i] != s {
			t.Fatalf("order %v, want it to start %v", f.order, want)
		}
	}
}

func TestMeasureStopsAtTheBudgetAndSaysSo(t *testing.T) {
	f := &fakeSides{noise: []float64{0.5, 1.5, 1, 0.7, 1.3}}
	plan := Plan{Target: 0.001, Level: 0.95, MinPairs: 5, MaxPairs: 1000}
	r, err := Measure(context.Background(), f, primes, "1 vCPU", Shape{}, plan, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Converged || r.Ratio.N != 5 || !strings.Contains(r.Stop, "time budget ran out after 5 pairs") {
		t.Fatalf("noisy samples past the deadline: converged %v, n %d, stop %q", r.Converged, r.Ratio.N, r.Stop)
	}
}

func TestMeasureStopsAtMaxPairs(t *testing.T) {
	f := &fakeSides{noise: []float64{0.5, 1.5}}
	plan := Plan{Target: 0.001, Level: 0.95, MinPairs: 2, MaxPairs: 8}
	r, err := Measure(context.Background(), f, primes, "v", Shape{}, plan, time.Now().Add(time.Hour), nil)
	if err != nil || r.Converged || r.Ratio.N != 8 || !strings.Contains(r.Stop, "maximum of 8 pairs") {
		t.Fatalf("%v %+v %q", err, r.Ratio, r.Stop)
	}
}

func TestMeasurePassesRunErrorsOn(t *testing.T) {
	boom := errors.New("agent gone")
	_, err := Measure(context.Background(), &fakeSides{fail: boom}, primes, "v", Shape{}, DefaultPlan(), time.Now().Add(time.Hour), nil)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}

func TestPlanValidate(t *testing.T) {
	for _, p := range []Plan{
		{Target: 0, Level: 0.95, MinPairs: 5, MaxPairs: 10},
		{Target: 0.03, Level: 1, MinPairs: 5, MaxPairs: 10},
		{Target: 0.03, Level: 0.95, MinPairs: 1, MaxPairs: 10},
		{Target: 0.03, Level: 0.95, MinPairs: 5, MaxPairs: 4},
		{Target: 0.03, Level: 0.95, MinPairs: 5, MaxPairs: 10, Warmup: -1},
	} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if err := DefaultPlan().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseWorkloads(t *testing.T) {
	wls, err := ParseWorkloads("cpu-hash, primes:to=1000;from=10, io, exec:gzip -c /etc/services", "/var/tmp/x")
	if err != nil {
		t.Fatal(err)
	}
	if len(wls) != 4 || wls[1].Args["to"] != "1000" || wls[1].Args["from"] != "10" {
		t.Fatalf("%+v", wls)
	}
	if wls[2].Args["path"] != "/var/tmp/x" || wls[2].VMArgs["path"] != "/dev/vda" || wls[2].ScratchMiB() <= ioMiB {
		t.Fatalf("io must write a host dir natively and the scratch disk in the VM: %+v", wls[2])
	}
	if wls[3].Label() != "exec:gzip -c /etc/services" {
		t.Fatalf("exec label %q", wls[3].Label())
	}
	for _, bad := range []string{"", "nosuch", "primes:to", "exec:", "wordcount"} {
		if _, err := ParseWorkloads(bad, "/tmp"); !errors.Is(err, ErrUnknownWorkload) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
