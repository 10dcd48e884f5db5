package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/freetype/truetype"
	chart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
	"github.com/wcharczuk/go-chart/v2/roboto"
	"gonum.org/v1/gonum/stat"
)

// Chart geometry, in SVG user units (the page scales them to its width).
const (
	chartWidth       = 960
	ratioRowHeight   = 34
	ratioChartMargin = 80
	sampleHeight     = 170
	bootHeight       = 150
	maxLabelRunes    = 48
)

// Okabe-Ito colours, told apart with colour blindness.
var (
	colourNative    = drawing.ColorFromHex("0072B2")
	colourVM        = drawing.ColorFromHex("E69F00")
	colourTCG       = drawing.ColorFromHex("D55E00")
	colourKVM       = drawing.ColorFromHex("009E73")
	colourOtherMode = drawing.ColorFromHex("999999")
	colourGridLine  = drawing.ColorFromHex("E6E6E6")
	colourReference = drawing.ColorFromHex("555555")
)

// reportFont is parsed once and given to every chart: left unset,
// go-chart loads its default font through a cache it reads without a
// lock, a data race when two reports are drawn at once.
var reportFont = sync.OnceValues(func() (*truetype.Font, error) { return truetype.Parse(roboto.Roboto) })

// ratioChart draws every result's ratio as a dot with its interval as a
// horizontal segment, on a log axis: the interval is symmetric in log
// space, where it was computed, and 0.5 and 2 are equally far from the
// dashed reference line at 1 (VM as fast as native).
func ratioChart(rs []Result) (template.HTML, error) {
	font, err := reportFont()
	if err != nil {
		return "", err
	}
	n := len(rs)
	lo, hi := 1.0, 1.0
	for _, r := range rs {
		for _, v := range []float64{r.Ratio.Estimate, r.Ratio.Low, r.Ratio.High} {
			if v > 0 && !math.IsInf(v, 0) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	x := logScale(lo, hi)
	var series []chart.Series
	var yTicks []chart.Tick
	for i, r := range rs {
		y := float64(n - 1 - i) // first result at the top
		yTicks = append(yTicks, chart.Tick{Value: y, Label: truncateRunes(r.Workload+" · "+r.Variant, maxLabelRunes)})
		c := accelColour(r.Shape.Accel)
		iv := r.Ratio
		if iv.N == 0 || !(iv.Estimate > 0) {
			continue
		}
		if iv.Low > 0 && !math.IsInf(iv.High, 0) {
			series = append(series, chart.ContinuousSeries{
				Style:   chart.Style{StrokeColor: c, StrokeWidth: 3},
				YAxis:   chart.YAxisSecondary,
				XValues: []float64{math.Log10(iv.Low), math.Log10(iv.High)},
				YValues: []float64{y, y},
			})
		}
		series = append(series, chart.ContinuousSeries{
			Style:   chart.Style{StrokeWidth: chart.Disabled, DotColor: c, DotWidth: 4},
			YAxis:   chart.YAxisSecondary,
			XValues: []float64{math.Log10(iv.Estimate)},
			YValues: []float64{y},
		})
	}
	series = append(series, chart.ContinuousSeries{
		Style:   chart.Style{StrokeColor: colourReference, StrokeWidth: 1, StrokeDashArray: []float64{5, 4}},
		YAxis:   chart.YAxisSecondary,
		XValues: []float64{0, 0},
		YValues: []float64{-0.5, float64(n) - 0.5},
	})
	c := chart.Chart{
		Width:      chartWidth,
		Height:     ratioChartMargin + ratioRowHeight*n,
		Font:       font,
		Background: chart.Style{Padding: chart.Box{Top: 20, Left: 10, Right: 30, Bottom: 10}},
		XAxis: chart.XAxis{
			Name:           "VM/native (log scale; dashed line: VM as fast as native)",
			Range:          x,
			GridMajorStyle: chart.Style{StrokeColor: colourGridLine, StrokeWidth: 1},
			GridMinorStyle: chart.Style{StrokeColor: colourGridLine, StrokeWidth: 1},
		},
		// Labels read on the left, which go-chart calls the secondary
		// axis; the primary one still needs a range to be accepted.
		YAxis: chart.YAxis{Style: chart.Hidden(), Range: &chart.ContinuousRange{Min: 0, Max: 1}},
		YAxisSecondary: chart.YAxis{
			Range: tickedRange{ContinuousRange: &chart.ContinuousRange{Min: -0.5, Max: float64(n) - 0.5}, ticks: yTicks},
		},
		Series: series,
	}
	return renderSVG(c, "VM/native ratio of every workload and variant with its confidence interval")
}

// logScale spans [lo, hi] on a log10 axis, labelled in ratios: 1-2-5
// steps across decades when the span is wide, round linear steps when
// it is narrow (a ratio of 0.95 to 1.0 has no 1-2-5 tick inside it).
func logScale(lo, hi float64) tickedRange {
	pad := max(0.02, 0.05*(math.Log10(hi)-math.Log10(lo)))
	from, to := math.Log10(lo)-pad, math.Log10(hi)+pad
	var ticks []chart.Tick
	if hi/lo > 3 {
		for e := int(math.Floor(from)); e <= int(math.Ceil(to)); e++ {
			for _, m := range []int{1, 2, 5} {
				v, _ := strconv.ParseFloat(fmt.Sprintf("%de%d", m, e), 64)
				if l := math.Log10(v); l >= from && l <= to {
					ticks = append(ticks, chart.Tick{Value: l, Label: strconv.FormatFloat(v, 'g', -1, 64)})
				}
			}
		}
	} else {
		for _, t := range linearTicks(math.Pow(10, from), math.Pow(10, to), 6) {
			if t.Value > 0 {
				if l := math.Log10(t.Value); l >= from && l <= to {
					ticks = append(ticks, chart.Tick{Value: l, Label: t.Label})
				}
			}
		}
	}
	return tickedRange{ContinuousRange: &chart.ContinuousRange{Min: from, Max: to}, ticks: ticks}
}

// linearTicks are round values (1, 2 or 5 times a power of ten) from
// lo to hi, about n steps apart, the first at or below lo and the last
// at or above hi.
func linearTicks(lo, hi float64, n int) []chart.Tick {
	if !(hi > lo) {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	e := int(math.Floor(math.Log10(raw)))
	m := 1
	switch f := raw / math.Pow(10, float64(e)); {
	case f > 5:
		m, e = 1, e+1
	case f > 2:
		m = 5
	case f > 1:
		m = 2
	}
	step, _ := strconv.ParseFloat(fmt.Sprintf("%de%d", m, e), 64)
	decimals := max(0, -e)
	var ticks []chart.Tick
	for i := math.Floor(lo / step); i <= math.Ceil(hi/step); i++ {
		v := i * step
		ticks = append(ticks, chart.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return ticks
}

// linearRange is an axis over linearTicks, ending on its outer ticks.
func linearRange(lo, hi float64, n int) tickedRange {
	ticks := linearTicks(lo, hi, n)
	return tickedRange{ContinuousRange: &chart.ContinuousRange{Min: ticks[0].Value, Max: ticks[len(ticks)-1].Value}, ticks: ticks}
}

// tickedRange hands go-chart our ticks through its TicksProvider hook;
// the axis's own Ticks field would make go-chart size the secondary
// axis from the primary axis's ticks.
type tickedRange struct {
	*chart.ContinuousRange
	ticks []chart.Tick
}

func (r tickedRange) GetTicks(chart.Renderer, chart.Style, chart.ValueFormatter) []chart.Tick {
	return r.ticks
}

func accelColour(accel string) drawing.Color {
	switch {
	case isTCG(accel):
		return colourTCG
	case isKVM(accel):
		return colourKVM
	}
	return colourOtherMode
}

// Rows of the strip charts, on their y axis.
const (
	vmRow     = 0.0
	nativeRow = 1.0
)

// newSampleChart draws every run of r as a dot on its side's row, with
// a bar at the side's mean: how far apart the runs lie is what decides
// the interval's width, and outliers show here and nowhere else.
func newSampleChart(r Result) (sampleChart, error) {
	native, vm := SamplesOf(r, Native), SamplesOf(r, VM)
	c := sampleChart{Title: r.Workload + " on " + r.Variant, Native: len(native), VM: len(vm)}
	all := append(slices.Clone(native), vm...)
	all = slices.DeleteFunc(all, func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) })
	if len(all) == 0 {
		c.NoSamplesShown = true
		return c, nil
	}
	font, err := reportFont()
	if err != nil {
		return c, err
	}
	lo, hi := slices.Min(all), slices.Max(all)
	if pad := 0.05 * (hi - lo); pad > 0 {
		lo, hi = lo-pad, hi+pad
	} else {
		lo, hi = lo-max(1, math.Abs(lo)*0.05), hi+max(1, math.Abs(hi)*0.05)
	}
	// Every figure is a positive rate: an axis below zero is padding
	// that reads as data.
	if lo < 0 && slices.Min(all) >= 0 {
		lo = 0
	}
	var series []chart.Series
	for _, side := range []struct {
		vs     []float64
		row    float64
		colour drawing.Color
	}{{native, nativeRow, colourNative}, {vm, vmRow, colourVM}} {
		if len(side.vs) == 0 {
			continue
		}
		xs, ys := strip(side.vs, side.row)
		series = append(series,
			chart.ContinuousSeries{
				Style: chart.Style{StrokeWidth: chart.Disabled, DotColor: side.colour.WithAlpha(180), DotWidth: 3},
				YAxis: chart.YAxisSecondary, XValues: xs, YValues: ys,
			})
		if m := stat.Mean(xs, nil); !math.IsNaN(m) {
			series = append(series, chart.ContinuousSeries{
				Style: chart.Style{StrokeColor: drawing.ColorBlack, StrokeWidth: 2},
				YAxis: chart.YAxisSecondary, XValues: []float64{m, m}, YValues: []float64{side.row - 0.35, side.row + 0.35},
			})
		}
	}
	unit := r.Unit
	if unit == "" {
		unit = "figure"
	}
	ch := chart.Chart{
		Width:      chartWidth,
		Height:     sampleHeight,
		Font:       font,
		Background: chart.Style{Padding: chart.Box{Top: 16, Left: 10, Right: 30, Bottom: 10}},
		XAxis: chart.XAxis{
			Name:           unit + " (each dot one run; bar: mean)",
			Range:          linearRange(lo, hi, 8),
			GridMajorStyle: chart.Style{StrokeColor: colourGridLine, StrokeWidth: 1},
			GridMinorStyle: chart.Style{StrokeColor: colourGridLine, StrokeWidth: 1},
		},
		YAxis: chart.YAxis{Style: chart.Hidden(), Range: &chart.ContinuousRange{Min: 0, Max: 1}},
		YAxisSecondary: chart.YAxis{
			Range: tickedRange{
				ContinuousRange: &chart.ContinuousRange{Min: vmRow - 0.6, Max: nativeRow + 0.6},
				ticks:           []chart.Tick{{Value: vmRow, Label: "VM"}, {Value: nativeRow, Label: "native"}},
			},
		},
		Series: series,
	}
	c.SVG, err = renderSVG(ch, "runs of "+c.Title+", native and VM")
	return c, err
}

// strip places values along a row with a fixed vertical spread (the
// golden-ratio sequence, so neighbours in time land apart and the same
// report always draws the same picture). Non-finite values are left out.
func strip(vs []float64, row float64) (xs, ys []float64) {
	for i, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		_, f := math.Modf(float64(i) * 0.6180339887498949)
		xs, ys = append(xs, v), append(ys, row+(f-0.5)*0.5)
	}
	return xs, ys
}

// newBootChart draws each boot time as a dot with lines at p50 and p90.
// The percentiles are nearest-rank (a time actually measured), as there
// are only as many boots as variants.
func newBootChart(boot []time.Duration, mixedAccel bool) (*bootChart, error) {
	secs := make([]float64, len(boot))
	for i, d := range boot {
		secs[i] = d.Seconds()
	}
	slices.Sort(secs)
	p50 := stat.Quantile(0.5, stat.Empirical, secs, nil)
	p90 := stat.Quantile(0.9, stat.Empirical, secs, nil)
	b := &bootChart{
		N: len(secs), MixedAccel: mixedAccel,
		P50: formatSeconds(p50), P90: formatSeconds(p90), Max: formatSeconds(secs[len(secs)-1]),
	}
	font, err := reportFont()
	if err != nil {
		return nil, err
	}
	xs, ys := strip(secs, 0)
	marks := chart.Style{StrokeColor: colourReference, StrokeWidth: 1, StrokeDashArray: []float64{5, 4}}
	ch := chart.Chart{
		Width:      chartWidth,
		Height:     bootHeight,
		Font:       font,
		Background: chart.Style{Padding: chart.Box{Top: 16, Left: 20, Right: 30, Bottom: 10}},
		XAxis: chart.XAxis{
			Name:           "seconds from create to agent ready",
			Range:          linearRange(0, secs[len(secs)-1]*1.1, 8),
			GridMajorStyle: chart.Style{StrokeColor: colourGridLine, StrokeWidth: 1},
			GridMinorStyle: chart.Style{StrokeColor: colourGridLine, StrokeWidth: 1},
		},
		YAxis: chart.YAxis{Style: chart.Hidden(), Range: &chart.ContinuousRange{Min: -1, Max: 1}},
		Series: []chart.Series{
			chart.ContinuousSeries{Style: chart.Style{StrokeWidth: chart.Disabled, DotColor: colourNative, DotWidth: 4}, XValues: xs, YValues: ys},
			chart.ContinuousSeries{Style: marks, XValues: []float64{p50, p50}, YValues: []float64{-1, 0.6}},
			chart.ContinuousSeries{Style: marks, XValues: []float64{p90, p90}, YValues: []float64{-1, 0.6}},
			chart.AnnotationSeries{Annotations: []chart.Value2{
				{XValue: p50, YValue: 0.6, Label: "p50 " + b.P50},
				{XValue: p90, YValue: 0.6, Label: "p90 " + b.P90},
			}},
		},
	}
	b.SVG, err = renderSVG(ch, fmt.Sprintf("boot times of %d VMs, p50 %s, p90 %s", b.N, b.P50, b.P90))
	return b, err
}

func formatSeconds(s float64) string { return strconv.FormatFloat(s, 'f', 1, 64) + " s" }

// renderSVG draws c as an inline <svg> element labelled for screen
// readers. Its text is escaped on the way (go-chart writes text as
// is), which is what makes handing it to the template as HTML safe.
func renderSVG(c chart.Chart, label string) (template.HTML, error) {
	var buf bytes.Buffer
	if err := c.Render(escapingSVG, &buf); err != nil {
		return "", err
	}
	rest, ok := bytes.CutPrefix(buf.Bytes(), []byte("<svg "))
	if !ok {
		return "", errors.New("chart output does not start with <svg")
	}
	return template.HTML(`<svg class="chart" role="img" aria-label="` + html.EscapeString(label) + `" ` + string(rest)), nil //nolint:gosec // text escaped by escapingRenderer, the rest is ours
}

// escapingSVG is go-chart's SVG renderer with text escaped. It also
// clears text rotation on ResetStyle, as the PNG renderer does and the
// SVG one does not, or text drawn after a rotated axis name turns too.
func escapingSVG(w, h int) (chart.Renderer, error) {
	r, err := chart.SVG(w, h)
	return escapingRenderer{r}, err
}

type escapingRenderer struct{ chart.Renderer }

func (r escapingRenderer) Text(body string, x, y int) {
	var b strings.Builder
	xml.EscapeText(&b, []byte(body)) //nolint:errcheck // a strings.Builder does not fail
	r.Renderer.Text(b.String(), x, y)
}

func (r escapingRenderer) ResetStyle() {
	r.Renderer.ResetStyle()
	r.Renderer.ClearTextRotation()
}

func truncateRunes(s string, n int) string {
	if rs := []rune(s); len(rs) > n {
		return string(rs[:n-1]) + "…"
	}
	return s
}
