package bench

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat"
)

// WriteHTML writes the report as one self-contained HTML page: inline
// CSS, charts as inline SVG drawn here, and nothing fetched from
// anywhere (its Content-Security-Policy forbids it), so the file can be
// mailed or archived and still reads the same. Every ratio is an
// element with id "ratio-<workload>-<variant>" (lower-cased, runs of
// other characters as "-", "-2", "-3"... on a clash) carrying
// data-estimate, data-low and data-high, for tools that read the page.
func WriteHTML(w io.Writer, r *Report) error {
	var buf bytes.Buffer
	if err := renderHTML(&buf, r); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

// WriteHTMLFile writes the HTML report to path atomically: the page is
// rendered in full first, so a failure leaves no file or the old one.
func WriteHTMLFile(path string, r *Report) error {
	var buf bytes.Buffer
	if err := renderHTML(&buf, r); err != nil {
		return fmt.Errorf("write html report %s: %w", path, err)
	}
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("write html report %s: %w", path, err)
	}
	return nil
}

func renderHTML(w io.Writer, r *Report) error {
	if r == nil {
		return errors.New("no report")
	}
	p, err := newHTMLPage(r)
	if err != nil {
		return err
	}
	return reportTemplate.Execute(w, p)
}

// htmlPage is what the template shows, every figure already formatted.
type htmlPage struct {
	Title    string
	Banners  []accelBanner
	Notes    []string
	Host     Host
	Memory   string
	Run      runFacts
	Interval string // the ratio column's heading
	Rows     []ratioRow
	RatioSVG template.HTML
	Samples  []sampleChart
	Boot     *bootChart
}

// accelBanner is one acceleration mode and why it was chosen, with the
// variants that ran under it.
type accelBanner struct {
	Mode     string
	Reason   string
	Variants []string
	Emulated bool // TCG: the numbers are emulation's, not KVM's
	Hardware bool // KVM
}

type runFacts struct {
	Started, Duration, Budget, Target string
	MinPairs, MaxPairs, Warmup        int
}

type ratioRow struct {
	Workload, Args, Variant, Accel, Unit string
	NativeMean, VMMean                   string
	ID                                   string
	Estimate, Low, High                  string // exact, for data attributes
	Text                                 string // as people read it
	Pairs                                int
	Converged                            bool
	Stop                                 string
}

type sampleChart struct {
	Title          string
	Native, VM     int
	SVG            template.HTML
	NoSamplesShown bool
}

type bootChart struct {
	N             int
	P50, P90, Max string
	SVG           template.HTML
	MixedAccel    bool
}

func newHTMLPage(r *Report) (*htmlPage, error) {
	p := &htmlPage{
		Title:  "vmctl bench overhead",
		Notes:  r.Notes,
		Host:   r.Host,
		Memory: formatBytes(r.Host.MemoryBytes),
		Run: runFacts{
			Duration: r.Duration.Round(time.Second).String(),
			Budget:   r.Budget.String(),
			Target:   fmt.Sprintf("±%.1f%%", r.Target*100),
			MinPairs: r.MinPairs, MaxPairs: r.MaxPairs, Warmup: r.Warmup,
		},
		Interval: intervalHeading(r.Results),
		Banners:  accelBanners(r.Results),
	}
	if r.Host.Hostname != "" {
		p.Title += " on " + r.Host.Hostname
	}
	if !r.Started.IsZero() {
		p.Run.Started = r.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	ids := map[string]int{}
	for _, res := range r.Results {
		p.Rows = append(p.Rows, newRatioRow(res, ids))
		c, err := newSampleChart(res)
		if err != nil {
			return nil, fmt.Errorf("samples of %s on %s: %w", res.Workload, res.Variant, err)
		}
		p.Samples = append(p.Samples, c)
	}
	if len(r.Results) > 0 {
		svg, err := ratioChart(r.Results)
		if err != nil {
			return nil, fmt.Errorf("ratio chart: %w", err)
		}
		p.RatioSVG = svg
	}
	if len(r.Boot) > 0 {
		mixed := slices.ContainsFunc(p.Banners, func(b accelBanner) bool { return b.Mode != p.Banners[0].Mode })
		took := make([]time.Duration, len(r.Boot))
		for i, b := range r.Boot {
			took[i] = b.Took
		}
		b, err := newBootChart(took, mixed)
		if err != nil {
			return nil, fmt.Errorf("boot chart: %w", err)
		}
		p.Boot = b
	}
	return p, nil
}

func newRatioRow(r Result, ids map[string]int) ratioRow {
	native, vm := Pairs(r)
	row := ratioRow{
		Workload: r.Workload, Args: strings.Join(r.Args, " "), Variant: r.Variant,
		Accel: accelName(r.Shape.Accel), Unit: r.Unit,
		NativeMean: "—", VMMean: "—",
		ID:       uniqueID("ratio-"+slug(r.Workload)+"-"+slug(r.Variant), ids),
		Estimate: exactFloat(r.Ratio.Estimate), Low: exactFloat(r.Ratio.Low), High: exactFloat(r.Ratio.High),
		Text:      ratioText(r.Ratio),
		Pairs:     r.Ratio.N,
		Converged: r.Converged,
		Stop:      r.Stop,
	}
	if len(native) > 0 {
		row.NativeMean, row.VMMean = formatFigure(stat.Mean(native, nil)), formatFigure(stat.Mean(vm, nil))
	}
	return row
}

// ratioText reads like "0.412 [0.401, 0.423] ±2.7%". Three decimals
// at least, and three significant figures for small ratios: a TCG
// syscall ratio of 0.004 must not print as 0.004 [0.004, 0.004].
func ratioText(iv Interval) string {
	if iv.N == 0 {
		return "no complete pairs"
	}
	d := 3
	if iv.Estimate > 0 {
		d = min(8, max(3, 2-int(math.Floor(math.Log10(iv.Estimate)))))
	}
	if math.IsInf(iv.HalfWidth, 0) || math.IsNaN(iv.HalfWidth) {
		return fmt.Sprintf("%.*f [no interval from %d pair]", d, iv.Estimate, iv.N)
	}
	return fmt.Sprintf("%.*f [%.*f, %.*f] ±%.1f%%", d, iv.Estimate, d, iv.Low, d, iv.High, iv.HalfWidth*100)
}

// intervalHeading names the confidence level of the ratio column, or
// says it varies, rather than printing 95% over a 99% interval.
func intervalHeading(rs []Result) string {
	level := 0.0
	for _, r := range rs {
		switch {
		case r.Ratio.N == 0:
		case level == 0:
			level = r.Ratio.Level
		case r.Ratio.Level != level:
			return "VM/native [confidence interval, level varies]"
		}
	}
	if level == 0 {
		return "VM/native [confidence interval]"
	}
	return fmt.Sprintf("VM/native [%s interval]", strconv.FormatFloat(level*100, 'f', -1, 64)+"%")
}

// accelBanners groups the variants by acceleration mode and reason, in
// the order they first ran.
func accelBanners(rs []Result) []accelBanner {
	var out []accelBanner
	for _, r := range rs {
		mode := accelName(r.Shape.Accel)
		i := slices.IndexFunc(out, func(b accelBanner) bool { return b.Mode == mode && b.Reason == r.Shape.AccelReason })
		if i < 0 {
			out = append(out, accelBanner{Mode: mode, Reason: r.Shape.AccelReason, Emulated: isTCG(r.Shape.Accel), Hardware: isKVM(r.Shape.Accel)})
			i = len(out) - 1
		}
		v := r.Variant + " (" + shapeWords(r.Shape) + ")"
		if !slices.Contains(out[i].Variants, v) {
			out[i].Variants = append(out[i].Variants, v)
		}
	}
	return out
}

func shapeWords(s Shape) string {
	pin := "unpinned"
	if s.Pinned {
		pin = "pinned"
	}
	return fmt.Sprintf("%d vCPU, %d MiB, %s", s.VCPUs, s.MemoryMiB, pin)
}

func isTCG(accel string) bool { return strings.EqualFold(accel, "tcg") }
func isKVM(accel string) bool { return strings.EqualFold(accel, "kvm") }

func accelName(accel string) string {
	if accel == "" {
		return "not recorded"
	}
	return strings.ToUpper(accel)
}

// slug keeps lower-case letters and digits and turns every run of
// anything else into one "-", so any workload name makes a valid id.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
			continue
		}
		dash = true
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

// uniqueID numbers an id seen before, as two names may slug alike
// ("1 vCPU" and "1-vCPU").
func uniqueID(id string, seen map[string]int) string {
	seen[id]++
	if n := seen[id]; n > 1 {
		return uniqueID(fmt.Sprintf("%s-%d", id, n), seen)
	}
	return id
}

// exactFloat formats v so that parsing it gives v back, with Go's
// strconv.ParseFloat or JavaScript's Number alike: infinities are
// spelt "Infinity", which both read and "+Inf" is not.
func exactFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// formatFigure shows four significant figures, without exponents.
func formatFigure(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	d := min(8, max(0, 3-int(math.Floor(math.Log10(math.Abs(v))))))
	return strconv.FormatFloat(v, 'f', d, 64)
}

func formatBytes(b uint64) string {
	if b == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}
