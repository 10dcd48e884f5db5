package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vmctl/vmctl/stats"
)

// sampledResult builds a result from synthetic runs: native figures
// around nativeFigure, VM figures around ratio times that, with a
// few percent of spread, and the ratio computed as Measure would.
func sampledResult(t *testing.T, workload, accel string, nativeFigure, ratio float64, pairs int) Result {
	t.Helper()
	r := Result{
		Workload: workload, Variant: "1 vCPU", Unit: "MB/s",
		Shape:     Shape{VCPUs: 1, MemoryMiB: 512, Accel: accel, AccelReason: accel + " chosen by the test"},
		Converged: true, Stop: "reached the target",
	}
	spread := []float64{1, 1.02, 0.98, 1.01, 0.99}
	for i := range pairs {
		r.Samples = append(r.Samples,
			Sample{Side: Native, Pair: i, Value: nativeFigure * spread[i%len(spread)]},
			Sample{Side: VM, Pair: i, Value: nativeFigure * ratio * spread[(i+2)%len(spread)]})
	}
	native, vm := Pairs(r)
	iv, err := stats.PairedRatio(native, vm, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	r.Ratio = iv
	return r
}

// syntheticReport has two workloads on one variant, as a run on host
// "h1" would report them.
func syntheticReport(t *testing.T, accel string) *Report {
	t.Helper()
	return &Report{
		Version: ReportVersion, Started: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Duration: 5*time.Minute + 12*time.Second, Budget: 6 * time.Minute, Target: 0.03,
		MinPairs: 5, MaxPairs: 200, Warmup: 2,
		Host: Host{Hostname: "h1", CPUModel: "Test CPU 9000", Cores: 8, MemoryBytes: 16 << 30,
			Kernel: "6.1.0-test amd64", Libvirt: "9.0.0", QEMU: "7.2.19", URI: "qemu:///system"},
		Results: []Result{
			sampledResult(t, "primes", accel, 100, 0.1, 8),
			sampledResult(t, "membw", accel, 2000, 0.9, 12),
		},
		Boot: []BootSample{{Variant: "1 vCPU", Accel: "tcg", Took: 14 * time.Second}, {Variant: "2 vCPU", Accel: "tcg", Took: 9 * time.Second}, {Variant: "1 vCPU pinned", Accel: "tcg", Took: 12 * time.Second}},
	}
}

func renderPage(t *testing.T, r *Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func fixedRatio(workload, variant, accel string, iv Interval) Result {
	return Result{Workload: workload, Variant: variant, Unit: "ops/s", Shape: Shape{VCPUs: 1, MemoryMiB: 512, Accel: accel}, Ratio: iv}
}

func TestWriteHTMLShowsEveryRatioWithItsInterval(t *testing.T) {
	r := &Report{Results: []Result{
		fixedRatio("cpu-hash", "1 vCPU", "kvm", Interval{Estimate: 0.412, Low: 0.401, High: 0.423, HalfWidth: 0.0267, Level: 0.95, N: 10}),
		fixedRatio("syscalls", "1 vCPU", "kvm", Interval{Estimate: 0.00412, Low: 0.00401, High: 0.00423, HalfWidth: 0.0267, Level: 0.95, N: 10}),
		fixedRatio("io", "2 vCPU pinned", "kvm", Interval{Estimate: 0.5, Low: 0, High: 0, HalfWidth: 0, Level: 0.95, N: 1}),
	}}
	r.Results[2].Ratio.High, r.Results[2].Ratio.HalfWidth = math.Inf(1), math.Inf(1)
	page := renderPage(t, r)
	for _, want := range []string{
		`id="ratio-cpu-hash-1-vcpu" data-estimate="0.412" data-low="0.401" data-high="0.423">0.412 [0.401, 0.423] ±2.7%<`,
		// Small ratios keep three significant figures.
		`id="ratio-syscalls-1-vcpu" data-estimate="0.00412" data-low="0.00401" data-high="0.00423">0.00412 [0.00401, 0.00423] ±2.7%<`,
		// One pair has no interval, and the page says so.
		`id="ratio-io-2-vcpu-pinned" data-estimate="0.5" data-low="0" data-high="Infinity">0.500 [no interval from 1 pair]<`,
		`VM/native [95% interval]`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

func TestWriteHTMLNumbersRatioIDsThatSlugAlike(t *testing.T) {
	iv := Interval{Estimate: 1, Low: 1, High: 1, Level: 0.95, N: 5}
	page := renderPage(t, &Report{Results: []Result{
		fixedRatio("cpu-hash", "1 vCPU", "kvm", iv),
		fixedRatio("cpu-hash", "1-vCPU", "kvm", iv),
		fixedRatio("", "", "kvm", iv),
	}})
	for _, want := range []string{`id="ratio-cpu-hash-1-vcpu"`, `id="ratio-cpu-hash-1-vcpu-2"`, `id="ratio-x-x"`} {
		if strings.Count(page, want) != 1 {
			t.Errorf("want exactly one %s", want)
		}
	}
}

const tcgWarning = "these are emulation numbers, not KVM overhead"

func TestWriteHTMLSaysTCGNumbersAreEmulation(t *testing.T) {
	tests := []struct {
		accel       string
		wantWarning bool
		wantMode    string
	}{
		{accel: "tcg", wantWarning: true, wantMode: "Acceleration: TCG (emulation)"},
		{accel: "kvm", wantWarning: false, wantMode: "Acceleration: KVM"},
		{accel: "", wantWarning: false, wantMode: "Acceleration: not recorded"},
	}
	for _, tt := range tests {
		t.Run("accel "+tt.accel, func(t *testing.T) {
			page := renderPage(t, syntheticReport(t, tt.accel))
			if got := strings.Contains(page, tcgWarning); got != tt.wantWarning {
				t.Errorf("TCG warning shown: %v, want %v", got, tt.wantWarning)
			}
			if !strings.Contains(page, tt.wantMode) {
				t.Errorf("page lacks %q", tt.wantMode)
			}
			if !strings.Contains(page, tt.accel+" chosen by the test") {
				t.Errorf("page lacks the reason for %q", tt.accel)
			}
		})
	}
}

func TestWriteHTMLWarnsAboutTCGBesideKVM(t *testing.T) {
	r := syntheticReport(t, "kvm")
	tcg := sampledResult(t, "primes", "tcg", 100, 0.1, 6)
	tcg.Variant = "1 vCPU tcg"
	r.Results = append(r.Results, tcg)
	page := renderPage(t, r)
	if !strings.Contains(page, tcgWarning) || !strings.Contains(page, "Acceleration: KVM") {
		t.Error("a report with KVM and TCG variants must show both banners")
	}
	if !strings.Contains(page, "The boots span more than one acceleration mode") {
		t.Error("boot percentiles over KVM and TCG boots must say they mix them")
	}
}

func TestWriteHTMLShowsHostAndRun(t *testing.T) {
	page := renderPage(t, syntheticReport(t, "kvm"))
	for _, want := range []string{
		"Test CPU 9000, 8 cores", "16.0 GiB", "6.1.0-test amd64", "9.0.0", "7.2.19", "qemu:///system",
		"2026-03-01 12:00:00 UTC", "5m12s of a 6m0s budget", "±3.0%", "5 to 200 per workload", "after 2 warm-up runs",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestWriteHTMLFetchesNothing(t *testing.T) {
	page := renderPage(t, syntheticReport(t, "tcg"))
	for _, banned := range []string{`src="http`, `href="http`, `url(http`, `@import`, `<script`, `<link`, `src=`} {
		if strings.Contains(page, banned) {
			t.Errorf("page contains %q", banned)
		}
	}
	if !strings.Contains(page, `content="default-src 'none'; style-src 'unsafe-inline'"`) {
		t.Error("page lacks the policy that stops the browser fetching anything")
	}
}

var chartSVG = regexp.MustCompile(`(?s)<svg class="chart".*?</svg>`)

func TestWriteHTMLDrawsWellFormedCharts(t *testing.T) {
	tests := []struct {
		name string
		boot []BootSample
		want int // ratio chart + a sample chart per result + boot
	}{
		{name: "with boot times", boot: []BootSample{{Variant: "1 vCPU", Accel: "kvm", Took: 9 * time.Second}}, want: 4},
		{name: "without boot times", want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := syntheticReport(t, "kvm")
			r.Results[0].Workload = `<script>alert("x")</script> & co`
			r.Boot = tt.boot
			page := renderPage(t, r)
			svgs := chartSVG.FindAllString(page, -1)
			if len(svgs) != tt.want || strings.Count(page, "<svg") != tt.want {
				t.Fatalf("%d charts (%d <svg), want %d", len(svgs), strings.Count(page, "<svg"), tt.want)
			}
			for i, svg := range svgs {
				if err := wellFormed(svg); err != nil {
					t.Errorf("chart %d is not well-formed XML: %v", i, err)
				}
			}
			if got := strings.Contains(page, "<h2>Boot time</h2>"); got != (tt.boot != nil) {
				t.Errorf("boot section shown: %v, want %v", got, tt.boot != nil)
			}
		})
	}
}

func wellFormed(doc string) error {
	d := xml.NewDecoder(strings.NewReader(doc))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestWriteHTMLBootPercentilesAreNearestRank(t *testing.T) {
	// Sorted 9, 12, 14: rank ceil(0.5·3) = 2 is 12 s, ceil(0.9·3) = 3 is 14 s.
	page := renderPage(t, syntheticReport(t, "kvm"))
	if want := "3 VMs, create to agent ready: p50 12.0 s, p90 14.0 s, slowest 14.0 s"; !strings.Contains(page, want) {
		t.Errorf("page lacks %q", want)
	}
}

func TestWriteHTMLEscapesHostileStrings(t *testing.T) {
	const script = `<script>alert(1)</script>`
	const img = `"><img src=x onerror=alert(2)>`
	r := syntheticReport(t, "tcg")
	r.Results[0].Workload = script
	r.Results[0].Variant = img
	r.Results[0].Args = []string{script}
	r.Results[0].Unit = script
	r.Results[0].Stop = img
	r.Results[0].Shape.AccelReason = script
	r.Host.CPUModel, r.Host.URI = script, img
	r.Notes = []string{script}
	page := renderPage(t, r)
	for _, raw := range []string{"<script", "<img", "onerror=alert(2)>"} {
		if strings.Contains(page, raw) {
			t.Errorf("page contains %q unescaped", raw)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the hostile workload name is not shown escaped")
	}
	if !strings.Contains(page, `id="ratio-script-alert-1-script-img-src-x-onerror-alert-2"`) {
		t.Error("the ratio id is not the sanitised workload and variant")
	}
}

func TestWriteHTMLWithoutResultsSaysSo(t *testing.T) {
	page := renderPage(t, &Report{Version: ReportVersion})
	if !strings.Contains(page, "No results were measured.") || strings.Contains(page, "<svg") {
		t.Error("an empty report must say nothing was measured and draw no chart")
	}
	if err := WriteHTML(io.Discard, nil); err == nil {
		t.Error("a nil report must be an error")
	}
}

func TestWriteHTMLFileReplacesTheFileWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := WriteHTMLFile(path, syntheticReport(t, "kvm")); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(first, []byte("<!DOCTYPE html>")) || !bytes.HasSuffix(first, []byte("</html>\n")) {
		t.Fatal("file is not the whole page")
	}
	// A report that cannot be rendered leaves the old file as it was.
	if err := WriteHTMLFile(path, nil); err == nil {
		t.Fatal("a nil report must be an error")
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(after, first) {
		t.Fatalf("failed write changed the file (err %v)", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}
