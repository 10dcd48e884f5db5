package jobs

import (
	"context"
	"testing"
	"time"
)

// BenchmarkDispatchNative is a no-op exec partition's round trip through
// an in-process agent to a host process: the job machinery's own cost per
// partition, without a VM. `vmctl bench dispatch` measures it in a VM.
func BenchmarkDispatchNative(b *testing.B) {
	s := &Spec{Name: "bench", Workload: WorkloadSpec{Exec: []string{"true"}}, MaxAttempts: 1}
	s.Timeout.Duration = time.Minute
	p := &NativeProvider{Spec: s, WorkDir: b.TempDir()}
	ctx := context.Background()
	w, err := p.Start(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer p.Stop(ctx, w)
	durs := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		t0 := time.Now()
		if _, err := runAttempt(ctx, s, w, Partition{Index: i}, 1, 1); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(t0))
		i++
	}
	pc := PercentilesOf(durs)
	b.ReportMetric(float64(pc.P50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(pc.P99.Nanoseconds()), "p99-ns")
}
