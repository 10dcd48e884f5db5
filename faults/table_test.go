//go:build faults

package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// row is one scenario's line in the table.
type row struct {
	Scenario  string        `json:"scenario"`
	Runs      int           `json:"runs"`
	Passed    int           `json:"passed"`
	Leftovers int           `json:"leftovers"`
	Time      time.Duration `json:"time_ns"`
	Seconds   float64       `json:"seconds"`
	// Figures are what the scenario measured, in its own words.
	Figures []string `json:"figures,omitempty"`
}

// table collects the rows in the order the scenarios started.
type table struct {
	mu   sync.Mutex
	rows []*row
}

var results table

func (tb *table) add(name string) *row {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	r := &row{Scenario: name}
	tb.rows = append(tb.rows, r)
	return r
}

// update changes a row under the table's lock (scenarios may run their
// runs' checks from cleanup functions).
func (tb *table) update(r *row, f func(*row)) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	f(r)
}

// render writes the table as text: one line a scenario, by the issue's
// numbering, then the figures.
func (tb *table) render(w io.Writer) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	sort.SliceStable(tb.rows, func(i, j int) bool { return scenarioNumber(tb.rows[i].Scenario) < scenarioNumber(tb.rows[j].Scenario) })
	fmt.Fprintln(w, "== fault suite")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\truns\tpassed\tleftovers\ttime")
	var runs, passed, left int
	var total time.Duration
	for _, r := range tb.rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", r.Scenario, r.Runs, r.Passed, r.Leftovers, r.Time.Round(time.Second))
		runs, passed, left, total = runs+r.Runs, passed+r.Passed, left+r.Leftovers, total+r.Time
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%s\n", runs, passed, left, total.Round(time.Second))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range tb.rows {
		for _, f := range r.Figures {
			fmt.Fprintf(w, "  %s: %s\n", strings.SplitN(r.Scenario, " ", 2)[0], f)
		}
	}
	fmt.Fprintf(w, "  (%s; -repeat %d)\n", suite.gcNote, *repeat)
	return nil
}

// write prints the table and saves it, as text and JSON, in dir.
func (tb *table) write(stdout io.Writer, dir string) error {
	var sb strings.Builder
	if err := tb.render(&sb); err != nil {
		return err
	}
	fmt.Fprint(stdout, sb.String())
	tb.mu.Lock()
	for _, r := range tb.rows {
		r.Seconds = r.Time.Seconds()
	}
	rows := tb.rows
	if rows == nil {
		rows = []*row{}
	}
	js, err := json.MarshalIndent(rows, "", "  ")
	tb.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "faults-table.txt"), []byte(sb.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "faults-table.json"), append(js, '\n'), 0o644)
}
