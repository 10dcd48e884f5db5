package jobs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func bytesSpec(t *testing.T, files map[string]string, count int) *Spec {
	t.Helper()
	in := writeTree(t, files)
	return &Spec{Name: "b", Inputs: in, Dir: in, Partition: PartitionSpec{By: ByBytes, Count: count}}
}

func TestPartitionsByCount(t *testing.T) {
	s := &Spec{Partition: PartitionSpec{Count: 3}}
	got, err := s.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	want := []Partition{{Index: 0}, {Index: 1}, {Index: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestPartitionsByFiles(t *testing.T) {
	in := writeTree(t, map[string]string{"b.txt": "bb\n", "a.txt": "a\n", "c.log": "ccc", "empty.txt": "", "sub/d.txt": "d\n"})
	mustSymlink(t, "a.txt", filepath.Join(in, "z-link.txt")) // same file as a.txt: listed once
	s := &Spec{Inputs: in, Partition: PartitionSpec{By: ByFiles, Glob: "*.txt"}}
	got, err := s.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	want := []Partition{
		{Index: 0, Inputs: []string{"a.txt"}, Bytes: 2},
		{Index: 1, Inputs: []string{"b.txt"}, Bytes: 3},
		{Index: 2, Inputs: []string{"empty.txt"}, Bytes: 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	s.Partition.Glob = "sub/*"
	got, err = s.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	if want := []Partition{{Index: 0, Inputs: []string{"sub/d.txt"}, Bytes: 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("glob into a subdirectory: got %+v, want %+v", got, want)
	}
}

func TestPartitionsByBytesCutsAfterNewlines(t *testing.T) {
	// 16 bytes; nominal cuts at 5 and 10 move to just after the next
	// newline: 8 (after "bb\n") and 15 (after "cccccc\n").
	s := bytesSpec(t, map[string]string{"f": "aaaa\nbb\ncccccc\nd"}, 3)
	got, err := s.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	want := []Partition{
		{Index: 0, Inputs: []string{"f"}, Offset: 0, Length: 5, Bytes: 5},
		{Index: 1, Inputs: []string{"f"}, Offset: 5, Length: 10, Bytes: 10},
		{Index: 2, Inputs: []string{"f"}, Offset: 15, Length: 1, Bytes: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestPartitionsByBytesCutExactlyAtABoundary(t *testing.T) {
	s := bytesSpec(t, map[string]string{"f": "abc\ndef\n"}, 2) // nominal cut 4 is a line start
	got, err := s.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Length != 4 || got[1].Offset != 4 {
		t.Errorf("got %+v, want [0,4) and [4,8)", got)
	}
}

func TestPartitionsByBytesSingleHugeLine(t *testing.T) {
	line := bytes.Repeat([]byte("x"), 3*lineScanBlock+17)
	s := bytesSpec(t, map[string]string{"huge": string(line), "small": "a\nb\nc\nd\n"}, 8)
	got, err := s.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	// The huge file gets most of the ranges but has no newline: one range.
	if got[0].Inputs[0] != "huge" || got[0].Offset != 0 || got[0].Length != int64(len(line)) {
		t.Errorf("huge line: got %+v, want one whole-file range", got[0])
	}
	checkCoverage(t, s, got)
}

func TestRangesPerFile(t *testing.T) {
	f := func(sizes ...int64) []inputFile {
		var fs []inputFile
		for i, n := range sizes {
			fs = append(fs, inputFile{rel: fmt.Sprint(i), size: n})
		}
		return fs
	}
	tests := []struct {
		name  string
		files []inputFile
		count int
		want  []int
	}{
		{"one file", f(1000), 4, []int{4}},
		{"proportional", f(3000, 1000), 4, []int{3, 1}},
		{"largest ranges get the next", f(18092, 35149), 4, []int{2, 2}},
		{"fewer ranges than files", f(10, 20, 30), 2, []int{1, 1, 1}},
		{"empty files get none", f(0, 100, 0), 3, []int{0, 3, 0}},
		{"no more ranges than bytes", f(2, 1), 10, []int{2, 1}},
		{"ties go to the first", f(100, 100), 3, []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rangesPerFile(tt.files, tt.count); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPartitionsByBytesCoverEveryByteOnce is the property that makes
// splitting safe: over random files, ranges tile each file exactly, end on
// line boundaries, and are deterministic.
func TestPartitionsByBytesCoverEveryByteOnce(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 42))
		files := map[string]string{}
		for i := range 1 + rng.IntN(5) {
			files[fmt.Sprintf("f%d", i)] = randomText(rng)
		}
		count := 1 + rng.IntN(40)
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			s := bytesSpec(t, files, count)
			got, err := s.Partitions()
			if err != nil {
				t.Fatal(err)
			}
			checkCoverage(t, s, got)
			nonEmpty := 0
			for _, c := range files {
				if c != "" {
					nonEmpty++
				}
			}
			if len(got) > max(count, nonEmpty) {
				t.Errorf("%d partitions for count %d and %d non-empty files", len(got), count, nonEmpty)
			}
			again, _ := s.Partitions()
			if !reflect.DeepEqual(got, again) {
				t.Error("two splits of the same inputs differ")
			}
		})
	}
}

// randomText is one of several shapes of file, including the awkward ones.
func randomText(rng *rand.Rand) string {
	switch rng.IntN(8) {
	case 0:
		return ""
	case 1:
		return strings.Repeat("y", 1+rng.IntN(3*lineScanBlock)) // one line, no newline
	case 2:
		return strings.Repeat("\n", 1+rng.IntN(50))
	}
	var b strings.Builder
	for range rng.IntN(300) {
		b.WriteString(strings.Repeat("w", rng.IntN(120)))
		b.WriteByte('\n')
	}
	if rng.IntN(2) == 0 {
		b.WriteString("no trailing newline")
	}
	return b.String()
}

// checkCoverage: per file in name order, the partitions' ranges are
// non-empty, contiguous from 0 to the size, end after a newline unless at
// the end, and concatenated give the file back.
func checkCoverage(t *testing.T, s *Spec, parts []Partition) {
	t.Helper()
	files, ferr := s.inputFiles()
	if ferr != nil {
		t.Fatal(ferr)
	}
	byFile := map[string][]Partition{}
	for i, p := range parts {
		if p.Index != i || len(p.Inputs) != 1 || p.Length <= 0 || p.Bytes != p.Length {
			t.Fatalf("partition %d malformed: %+v", i, p)
		}
		byFile[p.Inputs[0]] = append(byFile[p.Inputs[0]], p)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(s.Inputs, f.rel))
		if err != nil {
			t.Fatal(err)
		}
		ranges := byFile[f.rel]
		if len(data) > 0 && len(ranges) == 0 {
			t.Errorf("%s: non-empty file has no range", f.rel)
		}
		var joined []byte
		var next int64
		for _, p := range ranges {
			if p.Offset != next {
				t.Fatalf("%s: range at %d, want %d (gap or overlap)", f.rel, p.Offset, next)
			}
			end := p.Offset + p.Length
			if end < int64(len(data)) && data[end-1] != '\n' {
				t.Errorf("%s: range [%d,%d) does not end after a newline", f.rel, p.Offset, end)
			}
			joined = append(joined, data[p.Offset:end]...)
			next = end
		}
		if !bytes.Equal(joined, data) {
			t.Errorf("%s: ranges cover %d of %d bytes", f.rel, len(joined), len(data))
		}
	}
}

func TestPartitionsRefusesBadModes(t *testing.T) {
	for _, s := range []*Spec{
		{Partition: PartitionSpec{By: "lines", Count: 2}},
		{Partition: PartitionSpec{Count: 0}},
		{Partition: PartitionSpec{By: ByBytes, Count: 2}}, // no inputs
		{Partition: PartitionSpec{By: ByFiles}},
	} {
		if _, err := s.Partitions(); err == nil {
			t.Errorf("%+v: no error", s.Partition)
		} else {
			wantSpecError(t, err)
		}
	}
}

func TestPartitionEnv(t *testing.T) {
	tests := []struct {
		name string
		p    Partition
		want []string
	}{
		{"count", Partition{Index: 0}, []string{"VMCTL_PARTITION=0", "VMCTL_PARTITIONS=4", "VMCTL_INPUTS=", "VMCTL_OUTPUT=/out/p0"}},
		{"files", Partition{Index: 2, Inputs: []string{"a.txt", "sub/b.txt"}, Bytes: 9}, []string{"VMCTL_PARTITION=2", "VMCTL_PARTITIONS=4",
			"VMCTL_INPUTS=/mnt/inputs/a.txt\n/mnt/inputs/sub/b.txt", "VMCTL_OUTPUT=/out/p0"}},
		{"bytes from 0", Partition{Index: 3, Inputs: []string{"a.txt"}, Offset: 0, Length: 100, Bytes: 100}, []string{"VMCTL_PARTITION=3", "VMCTL_PARTITIONS=4",
			"VMCTL_INPUTS=/mnt/inputs/a.txt", "VMCTL_INPUT_OFFSET=0", "VMCTL_INPUT_LENGTH=100", "VMCTL_OUTPUT=/out/p0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Env(4, "/mnt/inputs", "/out/p0"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func BenchmarkPartitionsByBytes(b *testing.B) {
	var sb strings.Builder
	for sb.Len() < 64<<20 {
		sb.WriteString("the quick brown fox jumps over the lazy dog\n")
	}
	in := b.TempDir()
	if err := os.WriteFile(filepath.Join(in, "big"), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	s := &Spec{Inputs: in, Partition: PartitionSpec{By: ByBytes, Count: 1000}}
	for b.Loop() {
		if _, err := s.Partitions(); err != nil {
			b.Fatal(err)
		}
	}
}
