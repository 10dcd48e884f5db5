package bench

import "fmt"

// CompareRow sets one workload and variant of two reports side by side.
type CompareRow struct {
	Workload string    `json:"workload"`
	Variant  string    `json:"variant"`
	A        *Interval `json:"a,omitempty"`
	B        *Interval `json:"b,omitempty"`
	// Change is B's ratio over A's; Differs is set when the two
	// intervals do not overlap (a conservative test: overlapping
	// intervals may still differ, disjoint ones surely do).
	Change  float64 `json:"change,omitempty"`
	Differs bool    `json:"differs"`
	// Note says why a row has no comparison: only in one report, or
	// measured under different acceleration or VM shapes.
	Note string `json:"note,omitempty"`
}

// Compare matches the results of two reports by workload and variant.
// Results measured under different acceleration, vCPUs, memory or
// pinning are listed but never compared: their ratios measure different
// things.
func Compare(a, b *Report) []CompareRow {
	type key struct{ w, v string }
	bs := map[key]*Result{}
	for i := range b.Results {
		r := &b.Results[i]
		bs[key{r.Workload, r.Variant}] = r
	}
	var rows []CompareRow
	seen := map[key]bool{}
	for i := range a.Results {
		ra := &a.Results[i]
		k := key{ra.Workload, ra.Variant}
		seen[k] = true
		row := CompareRow{Workload: ra.Workload, Variant: ra.Variant, A: &ra.Ratio}
		rb := bs[k]
		switch {
		case rb == nil:
			row.Note = "only in A"
		case !sameShape(ra.Shape, rb.Shape):
			row.B = &rb.Ratio
			row.Note = fmt.Sprintf("not compared: A ran %s, B ran %s", shapeText(ra.Shape), shapeText(rb.Shape))
		case fmt.Sprint(ra.Args) != fmt.Sprint(rb.Args):
			row.B = &rb.Ratio
			row.Note = fmt.Sprintf("not compared: arguments differ (%v vs %v)", ra.Args, rb.Args)
		default:
			row.B = &rb.Ratio
			row.Change = rb.Ratio.Estimate / ra.Ratio.Estimate
			row.Differs = rb.Ratio.Low > ra.Ratio.High || rb.Ratio.High < ra.Ratio.Low
		}
		rows = append(rows, row)
	}
	for i := range b.Results {
		rb := &b.Results[i]
		if !seen[key{rb.Workload, rb.Variant}] {
			rows = append(rows, CompareRow{Workload: rb.Workload, Variant: rb.Variant, B: &rb.Ratio, Note: "only in B"})
		}
	}
	return rows
}

func sameShape(a, b Shape) bool {
	return a.Accel == b.Accel && a.VCPUs == b.VCPUs && a.MemoryMiB == b.MemoryMiB && a.Pinned == b.Pinned
}

func shapeText(s Shape) string {
	pin := ""
	if s.Pinned {
		pin = " pinned"
	}
	return fmt.Sprintf("%s, %d vCPU%s, %d MiB", s.Accel, s.VCPUs, pin, s.MemoryMiB)
}
