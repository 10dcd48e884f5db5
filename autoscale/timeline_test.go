package autoscale

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	chart "github.com/wcharczuk/go-chart/v2"
)

var timelineStart = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

const timelineTitle = `render & encode <job 7>`

// rampRun records a synthetic run: a backlog arrives, the pool scales
// out twice, throughput stops rising past 2 VMs, the pool scales back in
// and goes idle once the backlog is gone. It returns the actions taken.
func rampRun(t *testing.T) (*Recorder, []Decision) {
	t.Helper()
	r := NewRecorder(timelineStart)
	at := func(sec int) time.Time { return timelineStart.Add(time.Duration(sec) * time.Second) }
	actions := map[int]Decision{
		0:   {Current: 0, Desired: 2, Action: ActionScaleOut, Rule: "max-step"},
		40:  {Current: 2, Desired: 4, Action: ActionScaleOut, Rule: "max-step"},
		100: {Current: 4, Desired: 2, Action: ActionScaleIn, Rule: "ceiling"},
		270: {Current: 2, Desired: 0, Action: ActionScaleIn, Rule: "idle"},
	}
	var taken []Decision
	backlog, ready, booting := 200, 0, 0
	desired := 0
	for sec := 0; sec <= 300; sec++ {
		if d, ok := actions[sec]; ok {
			d.Time = at(sec)
			desired = d.Desired
			taken = append(taken, d)
			r.Decision(d)
		} else if sec%5 == 0 {
			r.Decision(Decision{Time: at(sec), Current: ready + booting, Desired: desired, Action: ActionNone})
		}
		switch {
		case ready+booting < desired:
			booting = desired - ready
		case ready > desired:
			ready = desired
		}
		if booting > 0 && sec%10 == 9 {
			ready, booting = ready+booting, 0
		}
		inFlight := min(backlog, ready*2)
		rate := 0.0
		if ready > 0 {
			rate = min(0.63, 0.31*float64(ready))
			if sec%3 == 0 {
				backlog -= min(backlog, ready)
			}
		}
		r.Sample(Signals{
			Time: at(sec), Ready: ready, Booting: booting, Warm: 1,
			Backlog: backlog, InFlight: inFlight, Slots: 2, CompletionRate: rate,
		})
		if sec == 100 {
			r.Note(at(sec), "throughput ceiling: 2 VMs (rate 0.61/s → 0.63/s)")
		}
	}
	return r, taken
}

// svgDoc is what a test reads back from an SVG: its texts and the class
// of every path.
type svgDoc struct {
	texts, classes []string
	title          string
}

func parseSVG(t *testing.T, b []byte) svgDoc {
	t.Helper()
	var doc svgDoc
	dec := xml.NewDecoder(bytes.NewReader(b))
	var inText, inTitle bool
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return doc
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			inText, inTitle = tok.Name.Local == "text", tok.Name.Local == "title"
			if tok.Name.Local == "path" {
				for _, a := range tok.Attr {
					if a.Name.Local == "class" {
						doc.classes = append(doc.classes, a.Value)
					}
				}
			}
		case xml.CharData:
			switch {
			case inText:
				doc.texts = append(doc.texts, string(tok))
			case inTitle:
				doc.title += string(tok)
			}
		case xml.EndElement:
			inText, inTitle = false, false
		}
	}
}

func countClass(classes []string, kind string) int {
	n := 0
	for _, c := range classes {
		if slices.Contains(strings.Fields(c), "marker") && slices.Contains(strings.Fields(c), kind) {
			n++
		}
	}
	return n
}

func TestTimelineSVGShowsARun(t *testing.T) {
	r, actions := rampRun(t)
	var buf bytes.Buffer
	if err := r.WriteSVG(&buf, timelineTitle); err != nil {
		t.Fatal(err)
	}
	doc := parseSVG(t, buf.Bytes())

	if doc.title != timelineTitle {
		t.Errorf("<title> = %q, want %q", doc.title, timelineTitle)
	}
	if !slices.Contains(doc.texts, timelineTitle) {
		t.Errorf("title %q not drawn", timelineTitle)
	}
	for _, name := range []string{
		"backlog", "in flight", "completion rate (/s)",
		"ready", "booting", "warm", "desired",
		"scale-out", "scale-in", "note",
	} {
		if !slices.Contains(doc.texts, name) {
			t.Errorf("legend lacks %q", name)
		}
	}
	if slices.Contains(doc.texts, "draining") {
		t.Error("legend shows draining for a run where nothing drained")
	}

	// Every marker is drawn across both panels.
	const panels = 2
	outs, ins := 0, 0
	for _, d := range actions {
		switch d.Action {
		case ActionScaleOut:
			outs++
		case ActionScaleIn:
			ins++
		}
	}
	if got := countClass(doc.classes, "scale-out"); got != panels*outs {
		t.Errorf("scale-out markers = %d, want %d", got, panels*outs)
	}
	if got := countClass(doc.classes, "scale-in"); got != panels*ins {
		t.Errorf("scale-in markers = %d, want %d", got, panels*ins)
	}
	if got := countClass(doc.classes, "note"); got != panels {
		t.Errorf("note markers = %d, want %d", got, panels)
	}
	for _, label := range []string{
		"out 0->2 max-step", "out 2->4 max-step", "in 4->2 ceiling", "in 2->0 idle",
		"throughput ceiling: 2 VMs (rate 0.61/s → 0.63/s)",
	} {
		if !slices.Contains(doc.texts, label) {
			t.Errorf("marker label %q not drawn", label)
		}
	}
}

func TestTimelineSVGSizes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples int
		maxSize int
	}{
		{"one sample", 1, 100 << 10},
		{"ten thousand samples", 10_000, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecorder(timelineStart)
			for i := range tc.samples {
				r.Sample(Signals{
					Time:  timelineStart.Add(time.Duration(i) * time.Second),
					Ready: 1 + i%7, Backlog: (i * 37) % 1000, InFlight: i % 14,
					CompletionRate: float64(i%50) / 40,
				})
				if i%100 == 0 {
					r.Decision(Decision{Time: timelineStart.Add(time.Duration(i) * time.Second), Desired: 1 + i%7, Action: ActionScaleOut})
				}
			}
			var buf bytes.Buffer
			if err := r.WriteSVG(&buf, tc.name); err != nil {
				t.Fatal(err)
			}
			parseSVG(t, buf.Bytes())
			if buf.Len() > tc.maxSize {
				t.Errorf("SVG is %d bytes, want at most %d", buf.Len(), tc.maxSize)
			}
		})
	}
}

func TestTimelineEmptyIsAnError(t *testing.T) {
	r := NewRecorder(timelineStart)
	r.Note(timelineStart, "nothing ran")
	for _, tc := range []struct {
		name  string
		write func(io.Writer, string) error
	}{
		{"svg", r.WriteSVG},
		{"png", r.WritePNG},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.write(&buf, "empty"); !errors.Is(err, ErrNoSamples) {
				t.Fatalf("err = %v, want ErrNoSamples", err)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes for an empty timeline", buf.Len())
			}
		})
	}
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

func TestTimelinePNG(t *testing.T) {
	r, _ := rampRun(t)
	var buf bytes.Buffer
	if err := r.WritePNG(&buf, timelineTitle); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), pngMagic) {
		t.Fatalf("PNG output starts %q", buf.Bytes()[:min(8, buf.Len())])
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.Bounds().Size(), image.Pt(timelineWidth, timelineHeight); got != want {
		t.Errorf("PNG is %v, want %v", got, want)
	}
}

func TestTimelineWriteFile(t *testing.T) {
	r, _ := rampRun(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		file    string
		wantErr bool
		check   func(t *testing.T, b []byte)
	}{
		{name: "svg", file: "run.svg", check: func(t *testing.T, b []byte) { parseSVG(t, b) }},
		{name: "upper-case png", file: "run.PNG", check: func(t *testing.T, b []byte) {
			if !bytes.HasPrefix(b, pngMagic) {
				t.Error("not a PNG")
			}
		}},
		{name: "jpeg", file: "run.jpg", wantErr: true},
		{name: "no extension", file: "run", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			err := r.WriteFile(path, "run")
			if tc.wantErr {
				if err == nil {
					t.Fatal("WriteFile succeeded")
				}
				if !strings.Contains(err.Error(), ".svg or .png") {
					t.Errorf("error %q does not say what is supported", err)
				}
				if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
					t.Errorf("WriteFile left %s behind", path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, b)
		})
	}
}

func TestTimelinePanelsShareXPositions(t *testing.T) {
	r, _ := rampRun(t)
	panels, err := r.snapshot().panels("aligned")
	if err != nil {
		t.Fatal(err)
	}
	rp := escapingSVG(chart.SVG)
	if err := alignCanvases(rp, panels...); err != nil {
		t.Fatal(err)
	}
	var boxes []chart.Box
	for _, c := range panels {
		measured := *c
		measured.Elements = []chart.Renderable{func(_ chart.Renderer, cb chart.Box, _ chart.Style) { boxes = append(boxes, cb) }}
		if err := measured.Render(rp, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	if boxes[0].Left != boxes[1].Left || boxes[0].Right != boxes[1].Right {
		t.Errorf("canvases span %d..%d and %d..%d, want the same x span",
			boxes[0].Left, boxes[0].Right, boxes[1].Left, boxes[1].Right)
	}
}

func TestRecorderIsSafeForConcurrentUse(t *testing.T) {
	r := NewRecorder(timelineStart)
	r.Sample(Signals{Time: timelineStart, Ready: 1})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				at := timelineStart.Add(time.Duration(g*1000+i) * time.Millisecond)
				r.Sample(Signals{Time: at, Ready: i % 3, Backlog: i})
				r.Decision(Decision{Time: at, Desired: i % 3, Action: ActionScaleOut})
				r.Note(at, "tick")
			}
		})
		wg.Go(func() {
			if err := r.WriteSVG(io.Discard, "concurrent"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestNiceScale(t *testing.T) {
	for _, tc := range []struct {
		name        string
		lo, hi      float64
		n           int
		minStep     float64
		wantMax     float64
		wantLabels  []string
		wantAtLeast int
	}{
		{name: "small counts step by one", hi: 3.15, n: 6, minStep: 1, wantMax: 4, wantLabels: []string{"0", "1", "2", "3", "4"}},
		{name: "rates get decimals", hi: 0.66, n: 6, wantMax: 0.8, wantLabels: []string{"0.0", "0.2", "0.4", "0.6", "0.8"}},
		{name: "empty span is one step", hi: 0, n: 10, wantMax: 1},
		{name: "long run in round thousands", hi: 9999, n: 10, wantMax: 10000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := niceScale(tc.lo, tc.hi, tc.n, tc.minStep)
			if s.min != tc.lo || s.max != tc.wantMax {
				t.Errorf("range = [%v, %v], want [%v, %v]", s.min, s.max, tc.lo, tc.wantMax)
			}
			if tc.wantLabels != nil {
				var labels []string
				for _, tk := range s.ticks {
					labels = append(labels, tk.Label)
				}
				if !slices.Equal(labels, tc.wantLabels) {
					t.Errorf("labels = %v, want %v", labels, tc.wantLabels)
				}
			}
		})
	}
}

func TestSteps(t *testing.T) {
	for _, tc := range []struct {
		name         string
		xs, ys       []float64
		wantX, wantY []float64
	}{
		{name: "one point", xs: []float64{0}, ys: []float64{2}, wantX: []float64{0}, wantY: []float64{2}},
		{name: "flat keeps both ends", xs: []float64{0, 1, 2}, ys: []float64{2, 2, 2}, wantX: []float64{0, 2}, wantY: []float64{2, 2}},
		{
			name: "a change is a vertical step",
			xs:   []float64{0, 1, 2, 3}, ys: []float64{1, 1, 3, 3},
			wantX: []float64{0, 2, 2, 3}, wantY: []float64{1, 1, 3, 3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gx, gy := steps(tc.xs, tc.ys)
			if !slices.Equal(gx, tc.wantX) || !slices.Equal(gy, tc.wantY) {
				t.Errorf("steps = %v %v, want %v %v", gx, gy, tc.wantX, tc.wantY)
			}
		})
	}
}

func TestThinKeepsSpikes(t *testing.T) {
	var xs, ys []float64
	for i := range 10_000 {
		xs = append(xs, float64(i))
		ys = append(ys, 1)
	}
	ys[4321] = 50
	ys[8765] = -5
	tx, ty := thin(xs, ys, 0, 10_000, 100)
	if len(tx) > 200 {
		t.Errorf("thinned to %d points, want at most 200", len(tx))
	}
	if !slices.Contains(ty, 50) || !slices.Contains(ty, -5) {
		t.Error("thinning lost a spike")
	}
	if !slices.IsSorted(tx) {
		t.Error("thinned points are out of order")
	}
}
