package autoscale

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestMetrics(t *testing.T, job string) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return NewMetrics(reg, job), reg
}

func TestMetricsObserveSetsGauges(t *testing.T) {
	m, reg := newTestMetrics(t, "render")
	m.Observe(Signals{
		Ready: 3, Booting: 1, Warm: 2, Draining: 1,
		Backlog: 40, InFlight: 6, Slots: 2,
		BusyRatio: 1, GuestCPU: 0.75, HostCPU: 0.5,
		Completed: 17, CompletionRate: 0.62,
	})
	want := `
# HELP vmctl_pool_backlog_partitions Partitions queued and not yet running.
# TYPE vmctl_pool_backlog_partitions gauge
vmctl_pool_backlog_partitions{vmctl_job="render"} 40
# HELP vmctl_pool_ready_vms VMs that can take partitions now.
# TYPE vmctl_pool_ready_vms gauge
vmctl_pool_ready_vms{vmctl_job="render"} 3
# HELP vmctl_pool_completed_partitions_total Partitions completed since the run started.
# TYPE vmctl_pool_completed_partitions_total counter
vmctl_pool_completed_partitions_total{vmctl_job="render"} 17
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"vmctl_pool_backlog_partitions", "vmctl_pool_ready_vms", "vmctl_pool_completed_partitions_total"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		g    prometheus.Collector
		want float64
	}{
		{"booting", m.booting, 1},
		{"warm", m.warm, 2},
		{"draining", m.draining, 1},
		{"in flight", m.inFlight, 6},
		{"busy", m.busy, 1},
		{"guest cpu", m.guestCPU, 0.75},
		{"host cpu", m.hostCPU, 0.5},
		{"completion rate", m.completionRate, 0.62},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := testutil.ToFloat64(tc.g); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMetricsCompletedFollowsCumulativeCount(t *testing.T) {
	m, reg := newTestMetrics(t, "render")
	for _, n := range []int64{5, 9, 30} {
		m.Observe(Signals{Completed: n})
	}
	want := `
# HELP vmctl_pool_completed_partitions_total Partitions completed since the run started.
# TYPE vmctl_pool_completed_partitions_total counter
vmctl_pool_completed_partitions_total{vmctl_job="render"} 30
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vmctl_pool_completed_partitions_total"); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsObserveDecision(t *testing.T) {
	m, reg := newTestMetrics(t, "render")
	m.ObserveDecision(Decision{Action: ActionScaleOut, Rule: "max-step", Desired: 4})
	m.ObserveDecision(Decision{Action: ActionScaleOut, Rule: "max-step", Desired: 6})
	m.ObserveDecision(Decision{Action: ActionNone, Desired: 6})
	m.ObserveDecision(Decision{Action: ActionScaleIn, Rule: "idle", Desired: 0})
	want := `
# HELP vmctl_pool_decisions_total Autoscaler decisions by action and the rule that bounded them.
# TYPE vmctl_pool_decisions_total counter
vmctl_pool_decisions_total{action="none",rule="none",vmctl_job="render"} 1
vmctl_pool_decisions_total{action="scale-in",rule="idle",vmctl_job="render"} 1
vmctl_pool_decisions_total{action="scale-out",rule="max-step",vmctl_job="render"} 2
# HELP vmctl_pool_desired_vms VMs the autoscaler's last decision asked for.
# TYPE vmctl_pool_desired_vms gauge
vmctl_pool_desired_vms{vmctl_job="render"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"vmctl_pool_decisions_total", "vmctl_pool_desired_vms"); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsObserveStartByKind(t *testing.T) {
	m, reg := newTestMetrics(t, "")
	m.ObserveStart(12*time.Second, false)
	m.ObserveStart(300*time.Millisecond, true)
	m.ObserveStart(400*time.Millisecond, true)

	if n, err := testutil.GatherAndCount(reg, "vmctl_pool_vm_start_seconds"); err != nil || n != 2 {
		t.Fatalf("vm_start_seconds series = %d, %v; want cold and warm", n, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "vmctl_pool_vm_start_seconds" {
			continue
		}
		for _, metric := range mf.GetMetric() {
			if len(metric.GetLabel()) != 1 {
				t.Errorf("labels = %v, want only kind (no vmctl_job for an empty job)", metric.GetLabel())
			}
			counts[metric.GetLabel()[0].GetValue()] = metric.GetHistogram().GetSampleCount()
			if b := metric.GetHistogram().GetBucket(); b[0].GetUpperBound() != 0.1 || b[len(b)-1].GetUpperBound() != 30 {
				t.Errorf("buckets run %v..%v, want 0.1..30", b[0].GetUpperBound(), b[len(b)-1].GetUpperBound())
			}
		}
	}
	if counts["cold"] != 1 || counts["warm"] != 2 {
		t.Errorf("sample counts = %v, want cold:1 warm:2", counts)
	}
}

func TestMetricsSetCeiling(t *testing.T) {
	m, _ := newTestMetrics(t, "render")
	m.SetCeiling(2)
	if got := testutil.ToFloat64(m.ceiling); got != 2 {
		t.Errorf("ceiling = %v, want 2", got)
	}
	m.SetCeiling(0)
	if got := testutil.ToFloat64(m.ceiling); got != 0 {
		t.Errorf("ceiling = %v, want 0", got)
	}
}

func TestMetricsPassLint(t *testing.T) {
	m, reg := newTestMetrics(t, "render")
	m.Observe(Signals{Backlog: 1})
	m.ObserveDecision(Decision{Action: ActionNone})
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestMetricsTwoJobsShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := NewMetrics(reg, "a"), NewMetrics(reg, "b")
	a.Observe(Signals{Backlog: 1})
	b.Observe(Signals{Backlog: 2})
	if n, err := testutil.GatherAndCount(reg, "vmctl_pool_backlog_partitions"); err != nil || n != 2 {
		t.Fatalf("backlog series = %d, %v; want one per job", n, err)
	}
}

func TestServeExposesMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	m, reg := newTestMetrics(t, "render")
	m.Observe(Signals{Backlog: 7})

	addr, err := Serve(ctx, "127.0.0.1:0", reg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("bound address = %q, want 127.0.0.1 with a real port", addr)
	}
	body := httpGetBody(t, "http://"+addr+"/metrics")
	if !strings.Contains(body, `vmctl_pool_backlog_partitions{vmctl_job="render"} 7`) {
		t.Errorf("/metrics lacks the backlog gauge:\n%s", body)
	}

	cancel()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return
		}
		resp.Body.Close()
		select {
		case <-deadline:
			t.Fatal("server still answering after its context ended")
		case <-tick.C:
		}
	}
}

func TestServeRefusesEmptyAddress(t *testing.T) {
	if _, err := Serve(t.Context(), "", prometheus.NewRegistry()); err == nil {
		t.Fatal("Serve on an empty address succeeded; it would listen on every interface")
	}
}

func httpGetBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}
