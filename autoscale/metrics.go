package autoscale

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	metricsNamespace = "vmctl"
	metricsSubsystem = "pool"

	// jobLabel names the job a pool serves. It is not "job": Prometheus
	// attaches its own target label of that name on scrape and would
	// rename ours to exported_job.
	jobLabel = "vmctl_job"

	// ruleNone stands for a decision no rule bounded; an empty label
	// value reads in PromQL as a missing label.
	ruleNone = "none"
)

// Timeouts Serve applies, named so they are easy to find and change.
const (
	// metricsReadHeaderTimeout bounds a scraper that opens a connection
	// and never finishes its request.
	metricsReadHeaderTimeout = 10 * time.Second
	// metricsShutdownTimeout is how long a scrape in progress may run on
	// after the context ends.
	metricsShutdownTimeout = 5 * time.Second
)

// vmStartBuckets span a warm resume (~0.1-1 s) to a slow cold boot
// (~30 s), with round bounds a person can read off a dashboard.
var vmStartBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 12, 20, 30}

// Metrics exports a pool's signals and the autoscaler's decisions to
// Prometheus. Its methods are safe for concurrent use.
type Metrics struct {
	ready, booting, warm, draining prometheus.Gauge
	backlog, inFlight              prometheus.Gauge
	busy, guestCPU, hostCPU        prometheus.Gauge
	completionRate                 prometheus.Gauge
	desired, ceiling               prometheus.Gauge

	// completed holds Signals.Completed, already cumulative, which a
	// CounterFunc reports as is: tracking deltas into a Counter would
	// lose the value's identity with what the runner counted.
	completed atomic.Int64

	decisions *prometheus.CounterVec
	vmStart   *prometheus.HistogramVec
}

// NewMetrics creates the metrics for the pool serving job and registers
// them with reg. Every metric carries the constant label vmctl_job=job
// (none when job is empty), so several pools can share one registry. A
// nil reg registers nothing. Like promauto, it panics if the metrics
// are already registered for the same job.
func NewMetrics(reg prometheus.Registerer, job string) *Metrics {
	var labels prometheus.Labels
	if job != "" {
		labels = prometheus.Labels{jobLabel: job}
	}
	f := promauto.With(reg)
	gauge := func(name, help string) prometheus.Gauge {
		return f.NewGauge(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name: name, Help: help, ConstLabels: labels,
		})
	}
	m := &Metrics{
		ready:          gauge("ready_vms", "VMs that can take partitions now."),
		booting:        gauge("booting_vms", "VMs cold booting or resuming from warm."),
		warm:           gauge("warm_vms", "Pre-booted paused VMs."),
		draining:       gauge("draining_vms", "VMs finishing their partitions before they stop."),
		backlog:        gauge("backlog_partitions", "Partitions queued and not yet running."),
		inFlight:       gauge("inflight_partitions", "Partitions running."),
		busy:           gauge("busy_ratio", "Running partitions over the ready VMs' slots (0..1)."),
		guestCPU:       gauge("guest_cpu_utilisation", "Mean guest CPU utilisation per vCPU over the pool (0..1)."),
		hostCPU:        gauge("host_cpu_utilisation", "Host CPU utilisation (0..1)."),
		completionRate: gauge("completion_rate", "Partitions completed per second over the runner's recent window."),
		desired:        gauge("desired_vms", "VMs the autoscaler's last decision asked for."),
		ceiling:        gauge("throughput_ceiling_vms", "Pool size beyond which throughput stopped rising (0: none found)."),
		decisions: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name: "decisions_total", Help: "Autoscaler decisions by action and the rule that bounded them.",
			ConstLabels: labels,
		}, []string{"action", "rule"}),
		vmStart: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name: "vm_start_seconds", Help: "Time from asking for a VM to it being ready, by cold boot or warm resume.",
			ConstLabels: labels, Buckets: vmStartBuckets,
		}, []string{"kind"}),
	}
	f.NewCounterFunc(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "completed_partitions_total", Help: "Partitions completed since the run started.",
		ConstLabels: labels,
	}, func() float64 { return float64(m.completed.Load()) })

	// Both kinds exist from the start, so a dashboard shows "no warm
	// starts yet" as zero rather than as a missing series.
	m.vmStart.WithLabelValues(startKind(false))
	m.vmStart.WithLabelValues(startKind(true))
	return m
}

// Observe records one tick's signals.
func (m *Metrics) Observe(s Signals) {
	m.ready.Set(float64(s.Ready))
	m.booting.Set(float64(s.Booting))
	m.warm.Set(float64(s.Warm))
	m.draining.Set(float64(s.Draining))
	m.backlog.Set(float64(s.Backlog))
	m.inFlight.Set(float64(s.InFlight))
	m.busy.Set(s.BusyRatio)
	m.guestCPU.Set(s.GuestCPU)
	m.hostCPU.Set(s.HostCPU)
	m.completionRate.Set(s.CompletionRate)
	m.completed.Store(s.Completed)
}

// ObserveDecision counts d by action and rule and records what it asked for.
func (m *Metrics) ObserveDecision(d Decision) {
	rule := d.Rule
	if rule == "" {
		rule = ruleNone
	}
	m.decisions.WithLabelValues(string(d.Action), rule).Inc()
	m.desired.Set(float64(d.Desired))
}

// ObserveStart records how long a VM took to become ready.
func (m *Metrics) ObserveStart(d time.Duration, warm bool) {
	m.vmStart.WithLabelValues(startKind(warm)).Observe(d.Seconds())
}

// SetCeiling records the throughput ceiling in VMs, 0 for none.
func (m *Metrics) SetCeiling(n int) {
	m.ceiling.Set(float64(n))
}

func startKind(warm bool) string {
	if warm {
		return "warm"
	}
	return "cold"
}

// Serve serves g's metrics at /metrics on addr, and only there: addr
// must name a port (":0" picks one) and an empty addr is refused rather
// than read as every interface. It returns the bound address once it is
// listening; the server shuts down when ctx ends, letting a scrape in
// progress finish for a few seconds. Errors after it started listening
// end serving without a report, as nothing waits for them.
func Serve(ctx context.Context, addr string, g prometheus.Gatherer) (string, error) {
	if addr == "" {
		return "", errors.New("serve metrics: empty address")
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("serve metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: metricsReadHeaderTimeout,
	}
	go func() {
		<-ctx.Done()
		// ctx has ended, so shutdown needs a context that outlives it by
		// the grace period.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metricsShutdownTimeout)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	go srv.Serve(l) //nolint:errcheck // ErrServerClosed on shutdown; see the doc comment.
	return l.Addr().String(), nil
}
