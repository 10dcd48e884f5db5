package workload

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const sampleText = "The cat; the CAT, the hat!\n" +
	"Don't stop: abc123def.\n" +
	"Straße STRASSE ÉCOLE école 日本語\n" +
	"\n" +
	"end\tEnd--end\n"

var sampleCounts = map[string]int64{
	"the": 3, "cat": 2, "hat": 1,
	"don": 1, "t": 1, "stop": 1, "abc": 1, "def": 1,
	"straße": 1, "strasse": 1, "école": 2, "日本語": 1,
	"end": 3,
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func sum(counts map[string]int64) int64 {
	var n int64
	for _, c := range counts {
		n += c
	}
	return n
}

func TestWordcountKnownCounts(t *testing.T) {
	path := writeFile(t, "sample.txt", sampleText)
	res := mustRun(t, "wordcount", map[string]string{"file": path}, nil)
	if !maps.Equal(res.Counts, sampleCounts) {
		t.Errorf("counts = %v, want %v", res.Counts, sampleCounts)
	}
	if res.Value != float64(sum(sampleCounts)) || res.Unit != UnitWords || res.Bytes != int64(len(sampleText)) {
		t.Errorf("value %v unit %q bytes %d, want %d words over %d bytes", res.Value, res.Unit, res.Bytes, sum(sampleCounts), len(sampleText))
	}
}

// TestWordcountRuneAcrossBlocks reads with tiny buffers so multi-byte
// runes and words are cut at every possible place.
func TestWordcountRuneAcrossBlocks(t *testing.T) {
	path := writeFile(t, "sample.txt", sampleText)
	for size := utf8MaxCarry + 1; size <= 17; size++ {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			c := wordCounter{counts: map[string]*int64{}}
			n, err := c.countFile(context.Background(), "wordcount", path, wordcountInput{length: -1}, make([]byte, size))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for w, p := range c.counts {
				got[w] = *p
			}
			if n != int64(len(sampleText)) || !maps.Equal(got, sampleCounts) {
				t.Errorf("read %d bytes, counts %v", n, got)
			}
		})
	}
}

// utf8MaxCarry is the most a block can end with of an unfinished rune.
const utf8MaxCarry = 3

// lineAlignedRanges splits content into about n ranges that end just
// after a '\n', as the host does.
func lineAlignedRanges(content string, n int) [][2]int64 {
	var ranges [][2]int64
	start := 0
	for start < len(content) {
		end := min(start+len(content)/n+1, len(content))
		if i := strings.IndexByte(content[end-1:], '\n'); i >= 0 {
			end += i
		} else {
			end = len(content)
		}
		ranges = append(ranges, [2]int64{int64(start), int64(end - start)})
		start = end
	}
	return ranges
}

func TestWordcountRangesSumToWhole(t *testing.T) {
	var sb strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&sb, "line %d: the quick brown fox — Füchse springen über %d Hunde\n", i, i%7)
	}
	content := sb.String()
	path := writeFile(t, "big.txt", content)
	whole := mustRun(t, "wordcount", map[string]string{"file": path}, nil)

	for _, parts := range []int{1, 3, 8} {
		t.Run(strconv.Itoa(parts), func(t *testing.T) {
			got := map[string]int64{}
			var bytes int64
			for i, r := range lineAlignedRanges(content, parts) {
				var res Result
				offset, length := strconv.FormatInt(r[0], 10), strconv.FormatInt(r[1], 10)
				// Alternate the two ways of giving a range: flags and the
				// partition variables.
				if i%2 == 0 {
					res = mustRun(t, "wordcount", map[string]string{"file": path, "offset": offset, "length": length}, nil)
				} else {
					res = mustRun(t, "wordcount", nil, map[string]string{EnvInputs: path + "\n", EnvInputOffset: offset, EnvInputLength: length})
				}
				if res.Bytes != r[1] {
					t.Errorf("range %v read %d bytes", r, res.Bytes)
				}
				bytes += res.Bytes
				for w, n := range res.Counts {
					got[w] += n
				}
			}
			if !maps.Equal(got, whole.Counts) || bytes != int64(len(content)) {
				t.Errorf("ranges counted %d words over %d bytes, whole file %v words over %d", sum(got), bytes, whole.Value, whole.Bytes)
			}
		})
	}
}

func TestWordcountInputs(t *testing.T) {
	a := writeFile(t, "a.txt", "one two\n")
	b := writeFile(t, "b.txt", "two three\n")
	c := writeFile(t, "c.txt", "x one two two three\n")
	want := map[string]int64{"one": 1, "two": 2, "three": 1}
	tests := []struct {
		name string
		args map[string]string
		env  map[string]string
	}{
		{"files flag", map[string]string{"file": a + "," + b}, nil},
		{"inputs variable", nil, map[string]string{EnvInputs: a + "\n" + b + "\n"}},
		{"flag overrides variable and its range", map[string]string{"file": a + "," + b},
			map[string]string{EnvInputs: "/nonexistent", EnvInputOffset: "100", EnvInputLength: "5"}},
		{"offset alone counts to the end", map[string]string{"file": c, "offset": "2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustRun(t, "wordcount", tt.args, tt.env)
			if !maps.Equal(res.Counts, want) {
				t.Errorf("counts = %v, want %v", res.Counts, want)
			}
		})
	}
}

func TestWordcountErrors(t *testing.T) {
	path := writeFile(t, "s.txt", "abc\n")
	tests := []struct {
		name    string
		args    map[string]string
		env     map[string]string
		want    error
		wantKey string
	}{
		{"missing file", map[string]string{"file": "/nonexistent/vmctl.txt"}, nil, fs.ErrNotExist, "/nonexistent/vmctl.txt"},
		{"no input at all", nil, nil, ErrBadArgument, "--file"},
		{"range over two inputs", nil, map[string]string{EnvInputs: path + "\n" + path, EnvInputOffset: "0"}, ErrBadArgument, "--offset"},
		{"offset past the end", map[string]string{"file": path, "offset": "10"}, nil, ErrBadArgument, "--offset"},
		{"length past the end", map[string]string{"file": path, "offset": "1", "length": "4"}, nil, ErrBadArgument, "--length"},
		{"bad offset variable", nil, map[string]string{EnvInputs: path, EnvInputOffset: "-1"}, ErrBadArgument, EnvInputOffset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), "wordcount", tt.args, envOf(tt.env))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error = %v, want %v naming %s", err, tt.want, tt.wantKey)
			}
		})
	}
}

func TestWordcountCanceled(t *testing.T) {
	path := writeFile(t, "s.txt", sampleText)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, "wordcount", map[string]string{"file": path}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}
