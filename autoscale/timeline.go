package autoscale

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang/freetype/truetype"
	chart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
)

// ErrNoSamples is returned when drawing a timeline nothing was sampled into.
var ErrNoSamples = errors.New("timeline has no samples")

// Recorder keeps a run tick by tick and draws it as one picture: load
// and completion rate in the upper panel, pool size in the lower, both
// against seconds since start, with the autoscaler's actions and notes
// marked across both. It is safe for concurrent use, and keeps every
// point (64 bytes a tick); drawing thins them to the picture's
// resolution.
type Recorder struct {
	start time.Time

	mu        sync.Mutex
	samples   []timelineSample
	decisions []timelineDecision
	notes     []timelineNote
}

type timelineSample struct {
	at                             float64 // seconds since start
	ready, booting, warm, draining int
	backlog, inFlight              int
	rate                           float64
}

type timelineDecision struct {
	at               float64
	current, desired int
	action           Action
	rule             string
}

type timelineNote struct {
	at   float64
	text string
}

// NewRecorder returns a Recorder whose x axis counts seconds from start.
func NewRecorder(start time.Time) *Recorder {
	return &Recorder{start: start}
}

// Sample records one controller tick. Signals with a zero Time are
// dropped: they cannot be placed on the axis.
func (r *Recorder) Sample(s Signals) {
	if s.Time.IsZero() {
		return
	}
	p := timelineSample{
		at:    r.since(s.Time),
		ready: s.Ready, booting: s.Booting, warm: s.Warm, draining: s.Draining,
		backlog: s.Backlog, inFlight: s.InFlight,
		rate: s.CompletionRate,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, p)
}

// Decision records a decision. Every decision feeds the desired line;
// scale-outs and scale-ins are also drawn as markers labelled with
// their rule. A decision with a zero Time takes its signals' time, and
// is dropped if that is zero too.
func (r *Recorder) Decision(d Decision) {
	at := d.Time
	if at.IsZero() {
		at = d.Signals.Time
	}
	if at.IsZero() {
		return
	}
	p := timelineDecision{at: r.since(at), current: d.Current, desired: d.Desired, action: d.Action, rule: d.Rule}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decisions = append(r.decisions, p)
}

// Note marks a moment with a short text, such as a throughput ceiling.
// A note at a zero time is dropped.
func (r *Recorder) Note(at time.Time, text string) {
	if at.IsZero() {
		return
	}
	p := timelineNote{at: r.since(at), text: text}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, p)
}

func (r *Recorder) since(t time.Time) float64 { return t.Sub(r.start).Seconds() }

// WriteSVG writes the timeline as one self-contained SVG document.
func (r *Recorder) WriteSVG(w io.Writer, title string) error {
	if err := r.snapshot().writeSVG(w, title); err != nil {
		return fmt.Errorf("write timeline svg: %w", err)
	}
	return nil
}

// WritePNG writes the timeline as a PNG image.
func (r *Recorder) WritePNG(w io.Writer, title string) error {
	if err := r.snapshot().writePNG(w, title); err != nil {
		return fmt.Errorf("write timeline png: %w", err)
	}
	return nil
}

// WriteFile writes the timeline to path as SVG or PNG, by its extension.
// The picture is drawn before the file is created, so a failed drawing
// leaves no partial file.
func (r *Recorder) WriteFile(path, title string) error {
	var write func(timeline, io.Writer, string) error
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg":
		write = timeline.writeSVG
	case ".png":
		write = timeline.writePNG
	default:
		return fmt.Errorf("write timeline %s: unsupported extension %q, want .svg or .png", path, ext)
	}
	var buf bytes.Buffer
	if err := write(r.snapshot(), &buf, title); err != nil {
		return fmt.Errorf("write timeline %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write timeline: %w", err)
	}
	return nil
}

// snapshot copies what was recorded, in time order, so drawing holds no lock.
func (r *Recorder) snapshot() timeline {
	r.mu.Lock()
	t := timeline{
		samples:   slices.Clone(r.samples),
		decisions: slices.Clone(r.decisions),
		notes:     slices.Clone(r.notes),
	}
	r.mu.Unlock()
	slices.SortStableFunc(t.samples, func(a, b timelineSample) int { return cmp.Compare(a.at, b.at) })
	slices.SortStableFunc(t.decisions, func(a, b timelineDecision) int { return cmp.Compare(a.at, b.at) })
	slices.SortStableFunc(t.notes, func(a, b timelineNote) int { return cmp.Compare(a.at, b.at) })
	return t
}

// timeline is a snapshot of a Recorder, drawn as two go-chart charts
// stacked into one picture: go-chart draws one chart per image, and the
// panels' counts (hundreds of partitions, a handful of VMs) need their
// own scales.
type timeline struct {
	samples   []timelineSample
	decisions []timelineDecision
	notes     []timelineNote
}

// Picture geometry, in pixels.
const (
	timelineWidth  = 1200
	loadHeight     = 420
	poolHeight     = 340
	timelineHeight = loadHeight + poolHeight
	// Series are thinned to a min/max pair per horizontal pixel; more
	// points would only make the file bigger.
	timelineBuckets = timelineWidth
)

// Colours are the Okabe-Ito palette, told apart with colour blindness.
var (
	colourOrange    = drawing.ColorFromHex("E69F00")
	colourSky       = drawing.ColorFromHex("56B4E9")
	colourGreen     = drawing.ColorFromHex("009E73")
	colourBlue      = drawing.ColorFromHex("0072B2")
	colourVermilion = drawing.ColorFromHex("D55E00")
	colourPurple    = drawing.ColorFromHex("CC79A7")
	colourGrey      = drawing.ColorFromHex("999999")
	colourGrid      = drawing.ColorFromHex("E6E6E6")
	colourBlack     = drawing.ColorBlack
)

// timelineFont is go-chart's default font, loaded once here because
// chart.GetDefaultFont checks its cache without its lock, which is a
// data race when two timelines are drawn at once.
var timelineFont = sync.OnceValues(chart.GetDefaultFont)

func (t timeline) writeSVG(w io.Writer, title string) error {
	panels, err := t.panels(title)
	if err != nil {
		return err
	}
	rp := escapingSVG(chart.SVG)
	if err := alignCanvases(rp, panels...); err != nil {
		return err
	}
	var doc bytes.Buffer
	fmt.Fprintf(&doc, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %[1]d %[2]d">`, timelineWidth, timelineHeight)
	doc.WriteString("<title>" + escapeXML(title) + "</title>")
	doc.WriteString("<style>" + markerCSS() + "</style>")
	y := 0
	for _, c := range panels {
		var buf bytes.Buffer
		if err := c.Render(rp, &buf); err != nil {
			return err
		}
		// Each chart is a whole <svg>; giving it a place and a size nests
		// it in the document rather than scaling it to fill the page.
		rest, ok := bytes.CutPrefix(buf.Bytes(), []byte("<svg "))
		if !ok {
			return errors.New("chart output does not start with <svg")
		}
		fmt.Fprintf(&doc, `<svg x="0" y="%d" width="%d" height="%d" `, y, c.Width, c.Height)
		doc.Write(rest)
		y += c.Height
	}
	doc.WriteString("</svg>\n")
	_, err = w.Write(doc.Bytes())
	return err
}

func (t timeline) writePNG(w io.Writer, title string) error {
	panels, err := t.panels(title)
	if err != nil {
		return err
	}
	f, err := timelineFont()
	if err != nil {
		return err
	}
	rp := substitutingPNG(chart.PNG, f)
	if err := alignCanvases(rp, panels...); err != nil {
		return err
	}
	img := image.NewRGBA(image.Rect(0, 0, timelineWidth, timelineHeight))
	y := 0
	for _, c := range panels {
		var buf bytes.Buffer
		if err := c.Render(rp, &buf); err != nil {
			return err
		}
		part, err := png.Decode(&buf)
		if err != nil {
			return err
		}
		draw.Draw(img, part.Bounds().Add(image.Pt(0, y)), part, image.Point{}, draw.Src)
		y += c.Height
	}
	return png.Encode(w, img)
}

// panels builds the load chart and the pool chart on a shared x scale.
func (t timeline) panels(title string) ([]*chart.Chart, error) {
	if len(t.samples) == 0 {
		return nil, ErrNoSamples
	}
	font, err := timelineFont()
	if err != nil {
		return nil, err
	}
	end := t.samples[len(t.samples)-1].at
	if n := len(t.decisions); n > 0 {
		end = max(end, t.decisions[n-1].at)
	}
	if n := len(t.notes); n > 0 {
		end = max(end, t.notes[n-1].at)
	}
	begin := min(0, t.samples[0].at)
	if len(t.decisions) > 0 {
		begin = min(begin, t.decisions[0].at)
	}
	if len(t.notes) > 0 {
		begin = min(begin, t.notes[0].at)
	}
	x := niceScale(begin, end, 10, 0)
	marks := t.marks()
	return []*chart.Chart{t.loadChart(title, font, x, marks), t.poolChart(font, x, marks)}, nil
}

func (t timeline) loadChart(title string, font *truetype.Font, x scale, marks []mark) *chart.Chart {
	xs := t.column(func(s timelineSample) float64 { return s.at })
	backlog := t.column(func(s timelineSample) float64 { return float64(s.backlog) })
	inFlight := t.column(func(s timelineSample) float64 { return float64(s.inFlight) })
	rate := t.column(func(s timelineSample) float64 { return s.rate })
	rateXs, rate := finite(xs, rate)

	c := &chart.Chart{
		Title:  title,
		Font:   font,
		Width:  timelineWidth,
		Height: loadHeight,
		// The title takes the top 35 pixels, the legend is centred at 52.
		Background: chart.Style{Padding: chart.Box{Top: 72, Left: 30, Right: 20, Bottom: 10}},
		XAxis:      xAxis(x, ""),
		// go-chart puts its primary axis on the right: the rate goes
		// there, so counts read on the left in both panels.
		YAxis: chart.YAxis{
			Name:           "partitions/s",
			Range:          niceScale(0, maxOf(rate)*1.05, 6, 0).rng(),
			GridMajorStyle: chart.Hidden(), GridMinorStyle: chart.Hidden(),
		},
		YAxisSecondary: countAxis("partitions", niceScale(0, max(maxOf(backlog), maxOf(inFlight))*1.05, 6, 1)),
		Series: []chart.Series{
			line("backlog", chart.YAxisSecondary, colourOrange, nil, x, xs, backlog),
			line("in flight", chart.YAxisSecondary, colourBlue, nil, x, xs, inFlight),
			line("completion rate (/s)", chart.YAxisPrimary, colourBlack, nil, x, rateXs, rate),
		},
	}
	c.Series = append(c.Series, markLegend(marks)...)
	c.Elements = []chart.Renderable{drawMarks(x, marks, markNote), legendAt(c, 52)}
	return c
}

func (t timeline) poolChart(font *truetype.Font, x scale, marks []mark) *chart.Chart {
	xs := t.column(func(s timelineSample) float64 { return s.at })
	cols := []struct {
		name   string
		colour drawing.Color
		v      func(timelineSample) int
		// onlyIfUsed leaves out a line that would lie along zero.
		onlyIfUsed bool
	}{
		{"ready", colourBlue, func(s timelineSample) int { return s.ready }, false},
		{"booting", colourOrange, func(s timelineSample) int { return s.booting }, false},
		{"warm", colourSky, func(s timelineSample) int { return s.warm }, false},
		{"draining", colourGrey, func(s timelineSample) int { return s.draining }, true},
	}
	var series []chart.Series
	top := 0.0
	for _, col := range cols {
		ys := t.column(func(s timelineSample) float64 { return float64(col.v(s)) })
		if col.onlyIfUsed && maxOf(ys) == 0 {
			continue
		}
		top = max(top, maxOf(ys))
		sx, sy := steps(xs, ys)
		series = append(series, line(col.name, chart.YAxisSecondary, col.colour, nil, x, sx, sy))
	}
	if len(t.decisions) > 0 {
		dx := make([]float64, 0, len(t.decisions)+1)
		dy := make([]float64, 0, len(t.decisions)+1)
		for _, d := range t.decisions {
			dx = append(dx, d.at)
			dy = append(dy, float64(d.desired))
		}
		// What was last asked for holds until the end of the run.
		if last := xs[len(xs)-1]; last > dx[len(dx)-1] {
			dx, dy = append(dx, last), append(dy, dy[len(dy)-1])
		}
		top = max(top, maxOf(dy))
		sx, sy := steps(dx, dy)
		series = append(series, line("desired", chart.YAxisSecondary, colourBlack, []float64{6, 4}, x, sx, sy))
	}

	c := &chart.Chart{
		Title:      "pool size",
		TitleStyle: chart.Style{FontSize: 12},
		Font:       font,
		Width:      timelineWidth,
		Height:     poolHeight,
		// The subtitle takes the top 28 pixels, the legend is centred at 42.
		Background: chart.Style{Padding: chart.Box{Top: 60, Left: 30, Right: 20, Bottom: 10}},
		XAxis:      xAxis(x, "seconds since start"),
		// Every series is on the left axis; the hidden primary axis
		// still needs a range for go-chart to accept the chart.
		YAxis: chart.YAxis{
			Style: chart.Hidden(), Range: niceScale(0, 1, 1, 0).rng(),
			GridMajorStyle: chart.Hidden(), GridMinorStyle: chart.Hidden(),
		},
		YAxisSecondary: countAxis("VMs", niceScale(0, top*1.05, 6, 1)),
		Series:         series,
	}
	c.Elements = []chart.Renderable{drawMarks(x, marks, markScaleOut, markScaleIn), legendAt(c, 42)}
	return c
}

func (t timeline) column(f func(timelineSample) float64) []float64 {
	out := make([]float64, len(t.samples))
	for i, s := range t.samples {
		out[i] = f(s)
	}
	return out
}

func xAxis(x scale, name string) chart.XAxis {
	return chart.XAxis{
		Name:           name,
		Range:          x.rng(),
		GridMajorStyle: chart.Style{StrokeColor: colourGrid, StrokeWidth: 1},
		GridMinorStyle: chart.Hidden(),
	}
}

func countAxis(name string, s scale) chart.YAxis {
	return chart.YAxis{
		Name:           name,
		Range:          s.rng(),
		GridMajorStyle: chart.Style{StrokeColor: colourGrid, StrokeWidth: 1},
		GridMinorStyle: chart.Hidden(),
	}
}

// line is a series thinned to the picture's resolution. A series of one
// point gets a dot, as a line through one point draws nothing.
func line(name string, axis chart.YAxisType, c drawing.Color, dash []float64, x scale, xs, ys []float64) chart.ContinuousSeries {
	xs, ys = thin(xs, ys, x.min, x.max, timelineBuckets)
	st := chart.Style{StrokeColor: c, StrokeWidth: 2, StrokeDashArray: dash}
	if len(xs) == 1 {
		st.DotColor, st.DotWidth = c, 3
	}
	return chart.ContinuousSeries{Name: name, YAxis: axis, Style: st, XValues: xs, YValues: ys}
}

// steps turns samples into a step line: a value holds until the next
// sample changes it. go-chart only joins points with straight lines,
// so each change becomes two points at the same x.
func steps(xs, ys []float64) ([]float64, []float64) {
	if len(xs) == 0 {
		return nil, nil
	}
	sx, sy := []float64{xs[0]}, []float64{ys[0]}
	for i := 1; i < len(xs); i++ {
		if ys[i] != ys[i-1] {
			sx = append(sx, xs[i], xs[i])
			sy = append(sy, ys[i-1], ys[i])
		}
	}
	if last := len(xs) - 1; last > 0 && sx[len(sx)-1] != xs[last] {
		sx, sy = append(sx, xs[last]), append(sy, ys[last])
	}
	return sx, sy
}

// thin keeps, for each of n equal slices of [lo, hi], the lowest and the
// highest point in their order, so spikes survive and a series never
// has more than 2n points.
func thin(xs, ys []float64, lo, hi float64, n int) ([]float64, []float64) {
	if len(xs) <= 2*n || hi <= lo {
		return xs, ys
	}
	bucket := func(x float64) int { return int(float64(n) * (x - lo) / (hi - lo)) }
	var tx, ty []float64
	for i := 0; i < len(xs); {
		b := bucket(xs[i])
		lowest, highest := i, i
		j := i + 1
		for ; j < len(xs) && bucket(xs[j]) == b; j++ {
			if ys[j] < ys[lowest] {
				lowest = j
			}
			if ys[j] > ys[highest] {
				highest = j
			}
		}
		first, second := min(lowest, highest), max(lowest, highest)
		tx, ty = append(tx, xs[first]), append(ty, ys[first])
		if second != first {
			tx, ty = append(tx, xs[second]), append(ty, ys[second])
		}
		i = j
	}
	return tx, ty
}

// finite drops points go-chart cannot place.
func finite(xs, ys []float64) ([]float64, []float64) {
	var fx, fy []float64
	for i, y := range ys {
		if !math.IsNaN(y) && !math.IsInf(y, 0) {
			fx, fy = append(fx, xs[i]), append(fy, y)
		}
	}
	return fx, fy
}

func maxOf(vs []float64) float64 {
	m := 0.0
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			m = max(m, v)
		}
	}
	return m
}

// scale is an axis range with round ticks. go-chart's generated ticks
// fall on uneven values and repeat labels on small integer ranges.
type scale struct {
	min, max float64
	ticks    []chart.Tick
}

// niceScale spans [lo, hi] with about n ticks at 1, 2 or 5 times a power
// of ten, no closer than minStep (1 for counts). An empty span becomes
// one step wide, so a single sample still draws.
func niceScale(lo, hi float64, n int, minStep float64) scale {
	if math.IsNaN(hi) || math.IsInf(hi, 0) || hi <= lo {
		hi = lo + max(minStep, 1)
	}
	raw := (hi - lo) / float64(n)
	step := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / step; {
	case f > 5:
		step *= 10
	case f > 2:
		step *= 5
	case f > 1:
		step *= 2
	}
	step = max(step, minStep)
	first, last := math.Floor(lo/step), math.Ceil(hi/step)
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	s := scale{min: first * step, max: last * step}
	for i := first; i <= last; i++ {
		v := i * step
		s.ticks = append(s.ticks, chart.Tick{Value: v, Label: fmt.Sprintf("%.*f", decimals, v)})
	}
	return s
}

// rng returns a fresh range each time: go-chart sizes a range to the
// chart it draws, so two charts cannot share one.
func (s scale) rng() chart.Range {
	return tickedRange{ContinuousRange: &chart.ContinuousRange{Min: s.min, Max: s.max}, ticks: s.ticks}
}

// tickedRange gives go-chart our ticks through its TicksProvider hook;
// an axis's Ticks field would do too, but go-chart then sizes the
// secondary axis from the primary axis's ticks.
type tickedRange struct {
	*chart.ContinuousRange
	ticks []chart.Tick
}

func (r tickedRange) GetTicks(chart.Renderer, chart.Style, chart.ValueFormatter) []chart.Tick {
	return r.ticks
}

// markKind is what a vertical marker stands for.
type markKind int

const (
	markScaleOut markKind = iota
	markScaleIn
	markNote
)

var markStyles = [...]struct {
	name   string // legend entry and SVG class
	colour drawing.Color
}{
	markScaleOut: {"scale-out", colourGreen},
	markScaleIn:  {"scale-in", colourVermilion},
	markNote:     {"note", colourPurple},
}

type mark struct {
	at    float64
	kind  markKind
	label string
}

// marks lists the actions and notes to draw, in time order.
func (t timeline) marks() []mark {
	var ms []mark
	for _, d := range t.decisions {
		kind, verb := markScaleOut, "out"
		switch d.action {
		case ActionScaleOut:
		case ActionScaleIn:
			kind, verb = markScaleIn, "in"
		default:
			continue
		}
		// An ASCII arrow: the PNG's font has no glyph for U+2192.
		label := fmt.Sprintf("%s %d->%d", verb, d.current, d.desired)
		if d.rule != "" {
			label += " " + d.rule
		}
		ms = append(ms, mark{at: d.at, kind: kind, label: label})
	}
	for _, n := range t.notes {
		ms = append(ms, mark{at: n.at, kind: markNote, label: n.text})
	}
	slices.SortStableFunc(ms, func(a, b mark) int { return cmp.Compare(a.at, b.at) })
	return ms
}

// markLegend adds an empty series per kind of marker present, so the
// chart's legend names the markers too.
func markLegend(ms []mark) []chart.Series {
	var out []chart.Series
	for kind, st := range markStyles {
		if slices.ContainsFunc(ms, func(m mark) bool { return m.kind == markKind(kind) }) {
			out = append(out, chart.ContinuousSeries{
				Name:  st.name,
				Style: chart.Style{StrokeColor: st.colour, StrokeWidth: 1.5, StrokeDashArray: markDash},
			})
		}
	}
	return out
}

var markDash = []float64{4, 3}

// Marker label placement, in pixels and points.
const (
	markLabelRows     = 4
	markLabelRowGap   = 13
	markLabelFontSize = 8
	markLabelMaxRunes = 72
)

// drawMarks draws every marker as a dashed vertical line and labels
// those of the kinds given. Labels stack in a few rows under the top of
// the canvas; one that fits in no row is left out rather than drawn over
// another, and its line still shows.
func drawMarks(x scale, ms []mark, labelled ...markKind) chart.Renderable {
	return func(r chart.Renderer, cb chart.Box, defaults chart.Style) {
		xr := &chart.ContinuousRange{Min: x.min, Max: x.max, Domain: cb.Width()}
		var rowEnd [markLabelRows]int
		for i := range rowEnd {
			rowEnd[i] = math.MinInt
		}
		lastX := map[markKind]int{}
		for _, m := range ms {
			px := cb.Left + xr.Translate(m.at)
			st := markStyles[m.kind]
			if prev, ok := lastX[m.kind]; !ok || prev != px {
				lastX[m.kind] = px
				chart.Style{ClassName: "marker " + st.name, StrokeColor: st.colour, StrokeWidth: 1, StrokeDashArray: markDash}.WriteToRenderer(r)
				r.MoveTo(px, cb.Top)
				r.LineTo(px, cb.Bottom)
				r.Stroke()
			}
			if !slices.Contains(labelled, m.kind) {
				continue
			}
			text := chart.Style{Font: defaults.Font, FontColor: st.colour, FontSize: markLabelFontSize}
			text.WriteToRenderer(r)
			label := truncate(m.label, markLabelMaxRunes)
			box := r.MeasureText(label)
			left := px + 3
			if left+box.Width() > cb.Right {
				left = px - 3 - box.Width()
			}
			row := slices.IndexFunc(rowEnd[:], func(end int) bool { return left > end+4 })
			if row < 0 {
				continue
			}
			rowEnd[row] = left + box.Width()
			baseline := cb.Top + (row+1)*markLabelRowGap
			chart.Draw.Box(r, chart.Box{
				Left: left - 1, Right: left + box.Width() + 1,
				Top: baseline - box.Height(), Bottom: baseline + 3,
			}, chart.Style{FillColor: drawing.ColorWhite.WithAlpha(220)})
			text.WriteToRenderer(r)
			r.Text(label, left, baseline)
		}
		r.ResetStyle()
	}
}

func truncate(s string, n int) string {
	if rs := []rune(s); len(rs) > n {
		return string(rs[:n-1]) + "…"
	}
	return s
}

// markerCSS styles the marker lines in SVG: go-chart writes a class in
// place of inline colours once a class is set, and the class is what
// lets a reader (or a test) pick the markers out.
func markerCSS() string {
	var b strings.Builder
	b.WriteString(".marker.stroke{stroke-width:1px;fill:none}")
	for _, st := range markStyles {
		fmt.Fprintf(&b, ".marker.%s.stroke{stroke:%s}", st.name, st.colour.String())
	}
	return b.String()
}

// legendAt draws go-chart's one-row legend centred at y; on its own it
// centres itself in the space above the canvas, over the title.
func legendAt(c *chart.Chart, y int) chart.Renderable {
	legend := chart.LegendThin(c, chart.Style{FontSize: 9})
	return func(r chart.Renderer, cb chart.Box, defaults chart.Style) {
		cb.Top = 2 * y
		legend(r, cb, defaults)
	}
}

// alignCanvases pads the charts so their plotting areas share left and
// right edges, and so one x position is one time in every panel. The
// areas depend on axis label widths, known only by drawing, so each
// chart is drawn once to measure it.
func alignCanvases(rp chart.RendererProvider, cs ...*chart.Chart) error {
	boxes := make([]chart.Box, len(cs))
	for i, c := range cs {
		measured := *c
		measured.Elements = []chart.Renderable{func(_ chart.Renderer, cb chart.Box, _ chart.Style) { boxes[i] = cb }}
		if err := measured.Render(rp, io.Discard); err != nil {
			return err
		}
	}
	left, right := math.MinInt, math.MaxInt
	for _, b := range boxes {
		left, right = max(left, b.Left), min(right, b.Right)
	}
	for i, c := range cs {
		c.Background.Padding.Left += left - boxes[i].Left
		c.Background.Padding.Right += boxes[i].Right - right
	}
	return nil
}

// escapingSVG wraps go-chart's SVG renderer to escape text: go-chart
// writes text into the SVG as is, so a title with "&" or "<" would make
// the document malformed. Text is measured unescaped, as it is shown.
// It also clears text rotation on ResetStyle, as go-chart's PNG
// renderer does and its SVG renderer does not: without that, the title
// comes out turned like the y axis name drawn before it.
func escapingSVG(rp chart.RendererProvider) chart.RendererProvider {
	return func(w, h int) (chart.Renderer, error) {
		r, err := rp(w, h)
		return escapingRenderer{r}, err
	}
}

type escapingRenderer struct{ chart.Renderer }

func (r escapingRenderer) Text(body string, x, y int) { r.Renderer.Text(escapeXML(body), x, y) }

func (r escapingRenderer) ResetStyle() {
	r.Renderer.ResetStyle()
	r.Renderer.ClearTextRotation()
}

func escapeXML(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) //nolint:errcheck // a strings.Builder does not fail
	return b.String()
}

// substitutingPNG wraps go-chart's PNG renderer to replace characters
// its font has no glyph for, which would otherwise draw as nothing.
func substitutingPNG(rp chart.RendererProvider, f *truetype.Font) chart.RendererProvider {
	return func(w, h int) (chart.Renderer, error) {
		r, err := rp(w, h)
		return substitutingRenderer{r, f}, err
	}
}

type substitutingRenderer struct {
	chart.Renderer
	font *truetype.Font
}

// substitute replaces characters the font lacks with ASCII lookalikes,
// or "?" where there is none.
func (r substitutingRenderer) substitute(s string) string {
	if !strings.ContainsFunc(s, r.missing) {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if !r.missing(c) {
			b.WriteRune(c)
			continue
		}
		switch c {
		case '→':
			b.WriteString("->")
		case '←':
			b.WriteString("<-")
		case '≥':
			b.WriteString(">=")
		case '≤':
			b.WriteString("<=")
		default:
			b.WriteRune('?')
		}
	}
	return b.String()
}

func (r substitutingRenderer) missing(c rune) bool { return r.font.Index(c) == 0 }

func (r substitutingRenderer) Text(body string, x, y int) {
	r.Renderer.Text(r.substitute(body), x, y)
}

func (r substitutingRenderer) MeasureText(body string) chart.Box {
	return r.Renderer.MeasureText(r.substitute(body))
}
