//go:build integration

package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmctl/vmctl/bench"
)

func TestBenchDensity(t *testing.T) {
	state := t.TempDir()
	r := mustVMCTL(t, state, "-o", "json", "bench", "density", "--max", "2", "--settle", "2s")
	var res bench.DensityResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	var names []string
	for _, s := range res.Steps {
		names = append(names, s.NewVM)
	}
	t.Cleanup(func() { assertNothingLeft(t, state, names...) })

	// Two VMs either run to --max or, on a busy host, already count as
	// degraded; both measure two steps.
	if len(res.Steps) != 2 || res.Reached != 2 {
		t.Fatalf("want 2 steps, got %d (reached %d, stop %+v)", len(res.Steps), res.Reached, res.Stop)
	}
	if res.Stop.Reason != bench.DensityStopMax && res.Stop.Reason != bench.DensityStopDegraded {
		t.Errorf("stop %+v, want max (or degraded on a loaded host)", res.Stop)
	}
	if res.Shape.Accel == "" || res.Shape.AccelReason == "" || res.Host.URI != "qemu:///system" {
		t.Errorf("shape %+v on %q: want the acceleration and its reason", res.Shape, res.Host.URI)
	}
	const mib = 1 << 20
	for i, s := range res.Steps {
		if s.VMs != i+1 || len(s.PerVM) != i+1 || !strings.HasPrefix(s.NewVM, "vmctl-bench-density-") {
			t.Errorf("step %d: %d VMs, %d per-VM rows, new VM %q", i, s.VMs, len(s.PerVM), s.NewVM)
		}
		// An idle 256 MiB TCG guest's QEMU holds ~80-250 MiB; its lazily
		// mapped translation cache could add up to 1 GiB more.
		if s.MeanRSS < 40*mib || s.MeanRSS > (256+1024+256)*mib || s.MeanPSS == 0 || s.MeanPSS > s.MeanRSS {
			t.Errorf("step %d: implausible mean RSS %d MiB, PSS %d MiB", i, s.MeanRSS/mib, s.MeanPSS/mib)
		}
		for _, v := range s.PerVM {
			if v.PID <= 0 || v.RSS == 0 || v.PSS == 0 || v.PSS > v.RSS || v.CPU < 0 {
				t.Errorf("step %d: implausible VM %+v", i, v)
			}
		}
		if s.Create <= 0 || s.Pings != 20*s.VMs || s.Ping.P50 <= 0 || s.Ping.P99 < s.Ping.P50 {
			t.Errorf("step %d: create %s, %d pings, ping %+v", i, s.Create, s.Pings, s.Ping)
		}
		if s.Window < 2*time.Second || s.CPUPerVM < 0 || s.CPUTotal > float64(runtime.NumCPU()) || s.HostAvailable == 0 {
			t.Errorf("step %d: window %s, CPU %.3f/VM (%.3f total), host available %d", i, s.Window, s.CPUPerVM, s.CPUTotal, s.HostAvailable)
		}
		t.Logf("%d VMs: create %s, ping p50 %s p99 %s, RSS %d MiB, PSS %d MiB, idle CPU %.2f%%/VM",
			s.VMs, s.Create.Round(time.Millisecond), s.Ping.P50, s.Ping.P99, s.MeanRSS/mib, s.MeanPSS/mib, s.CPUPerVM*100)
	}
}

func TestBenchDensityRefusesRemoteHosts(t *testing.T) {
	state := t.TempDir()
	r := vmctl(t, state, "--connect", "qemu+ssh://elsewhere.invalid/system", "bench", "density", "--max", "1")
	if r.code == 0 || !strings.Contains(r.stderr, "remote host") || !strings.Contains(r.stderr, "qemu:///system") {
		t.Fatalf("exit %d, stderr %q: want a refusal naming the remote host and qemu:///system", r.code, r.stderr)
	}
}
