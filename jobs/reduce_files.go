package jobs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Result file names in a job directory.
const (
	ResultJSON = "result.json"
	ResultText = "result.txt"
	CountsTSV  = "counts.tsv"
)

// WriteFiles writes the result into dir: result.json always, result.txt
// for concat, counts.tsv (most frequent first, then by key) when there
// are per-key counts. Each file is replaced whole, never left half
// written.
func (r *Reduced) WriteFiles(dir string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", ResultJSON, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, ResultJSON), append(data, '\n')); err != nil {
		return err
	}
	if r.Kind == ReduceConcat {
		if err := writeFileAtomic(filepath.Join(dir, ResultText), []byte(r.Text)); err != nil {
			return err
		}
	}
	if len(r.Counts) > 0 {
		if err := writeFileAtomic(filepath.Join(dir, CountsTSV), r.countsTSV()); err != nil {
			return err
		}
	}
	return nil
}

// countsTSV is "key\tcount" lines. A key holding a tab, newline or
// backslash is written Go-quoted so every line still has two columns.
func (r *Reduced) countsTSV() []byte {
	keys := sortedKeys(r.Counts)
	slices.SortStableFunc(keys, func(a, b string) int {
		switch ca, cb := r.Counts[a], r.Counts[b]; {
		case ca > cb:
			return -1
		case ca < cb:
			return 1
		}
		return 0
	})
	var b strings.Builder
	for _, k := range keys {
		col := k
		if strings.ContainsAny(k, "\t\n\r\\") {
			col = strconv.Quote(k)
		}
		b.WriteString(col)
		b.WriteByte('\t')
		b.WriteString(strconv.FormatInt(r.Counts[k], 10))
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// writeFileAtomic writes through a temporary file renamed over name, so a
// reader or a crash sees the old file or the new one, never a mix.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
