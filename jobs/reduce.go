package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vmctl/vmctl/workload"
)

// ErrBadOutput: a partition's output cannot be reduced as the spec asks.
var ErrBadOutput = errors.New("partition output cannot be reduced")

// PartitionOutput is what one partition produced.
type PartitionOutput struct {
	Index  int    `json:"index"`
	Stdout []byte `json:"stdout,omitempty"`
	// Result is the built-in's parsed result line; nil for exec workloads.
	Result *workload.Result `json:"result,omitempty"`
}

// Reduced is a job's result.
type Reduced struct {
	Kind string `json:"kind"`
	// Value is the sum (reduce sum); for per-key counts, their total.
	Value  float64          `json:"value"`
	Counts map[string]int64 `json:"counts,omitempty"`
	// Text is the concatenated output (reduce concat).
	Text       string `json:"text,omitempty"`
	Partitions int    `json:"partitions"`
	// Unit of Value, from the built-in's results ("primes", "MB/s").
	Unit string `json:"unit,omitempty"`
}

// Reduce combines the partitions' outputs, always in index order whatever
// order they arrived in, so a job's result does not depend on scheduling.
//
//   - sum: built-ins add their Values and merge their Counts. An exec
//     partition prints either one number, or lines "KEY NUMBER" (the key
//     is everything before the last run of whitespace) whose counts are
//     added per key; Value is then the total of all counts.
//   - concat: each partition's stdout, or a built-in's Text (its JSON
//     result when it has no Text), each ending in a newline.
//   - none: only the number of partitions.
func Reduce(kind string, outs []PartitionOutput) (*Reduced, error) {
	sorted := slices.Clone(outs)
	slices.SortFunc(sorted, func(a, b PartitionOutput) int { return a.Index - b.Index })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Index == sorted[i-1].Index {
			return nil, fmt.Errorf("reduce: partition %d has two outputs: %w", sorted[i].Index, ErrBadOutput)
		}
	}
	if kind == "" {
		kind = DefaultReduce
	}
	r := &Reduced{Kind: kind, Partitions: len(sorted)}
	for _, o := range sorted {
		if o.Result != nil && r.Unit == "" {
			r.Unit = o.Result.Unit
		}
	}
	var err error
	switch kind {
	case ReduceSum:
		err = r.sum(sorted)
	case ReduceConcat:
		err = r.concat(sorted)
	case ReduceNone:
	default:
		err = &FieldError{Field: "reduce", Msg: fmt.Sprintf("%q is not a reduce: use sum, concat or none", kind)}
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reduced) sum(outs []PartitionOutput) error {
	for _, o := range outs {
		if o.Result != nil {
			r.Value += o.Result.Value
			r.addCounts(o.Result.Counts)
			continue
		}
		if err := r.sumStdout(o); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reduced) addCounts(c map[string]int64) {
	if len(c) == 0 {
		return
	}
	if r.Counts == nil {
		r.Counts = make(map[string]int64, len(c))
	}
	for k, n := range c {
		r.Counts[k] += n
	}
}

// sumStdout adds an exec partition's stdout: one number, or KEY NUMBER lines.
func (r *Reduced) sumStdout(o PartitionOutput) error {
	text := strings.TrimSpace(string(o.Stdout))
	if text == "" {
		return fmt.Errorf("reduce sum: partition %d printed nothing; it must print a number or lines of KEY NUMBER: %w", o.Index, ErrBadOutput)
	}
	if !strings.ContainsAny(text, " \t\r\n") {
		v, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Errorf("reduce sum: partition %d printed %q, not a number; it must print a number or lines of KEY NUMBER: %w", o.Index, excerpt(text), ErrBadOutput)
		}
		r.Value += v
		return nil
	}
	counts := map[string]int64{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		cut := strings.LastIndexAny(line, " \t")
		var key string
		var n int64
		var err error
		if cut < 0 {
			err = errors.New("no key")
		} else {
			key = strings.TrimSpace(line[:cut])
			n, err = strconv.ParseInt(line[cut+1:], 10, 64)
		}
		if err != nil {
			return fmt.Errorf("reduce sum: partition %d, stdout line %d %q: want KEY COUNT (a whole number after the last space or tab), or a single number as the whole output: %w",
				o.Index, i+1, excerpt(line), ErrBadOutput)
		}
		counts[key] += n
		r.Value += float64(n)
	}
	r.addCounts(counts)
	return nil
}

func (r *Reduced) concat(outs []PartitionOutput) error {
	var b bytes.Buffer
	for _, o := range outs {
		chunk := o.Stdout
		if o.Result != nil {
			chunk = []byte(o.Result.Text)
			if o.Result.Text == "" {
				line, err := json.Marshal(o.Result)
				if err != nil {
					return fmt.Errorf("reduce concat: partition %d: %w", o.Index, err)
				}
				chunk = line
			}
		}
		b.Write(chunk)
		// One partition's last line must not run into the next's first.
		if len(chunk) > 0 && chunk[len(chunk)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	r.Text = b.String()
	return nil
}

// excerpt keeps an error message readable when a partition printed a lot.
func excerpt(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
