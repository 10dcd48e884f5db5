package jobs

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vmctl/vmctl/workload"
)

func stdoutOf(i int, s string) PartitionOutput { return PartitionOutput{Index: i, Stdout: []byte(s)} }

func TestReduceSum(t *testing.T) {
	tests := []struct {
		name   string
		outs   []PartitionOutput
		value  float64
		counts map[string]int64
		unit   string
	}{
		{"numbers", []PartitionOutput{stdoutOf(0, "3\n"), stdoutOf(1, " 4.5 "), stdoutOf(2, "-1e1")}, -2.5, nil, ""},
		{"per-key counts", []PartitionOutput{
			stdoutOf(0, "apple 3\nbanana\t2\n"),
			stdoutOf(1, "apple 1\r\n\nsome key with spaces   7\n"),
		}, 13, map[string]int64{"apple": 4, "banana": 2, "some key with spaces": 7}, ""},
		{"built-ins", []PartitionOutput{
			{Index: 1, Result: &workload.Result{Workload: "wordcount", Value: 3, Unit: "words", Counts: map[string]int64{"a": 2, "b": 1}}},
			{Index: 0, Result: &workload.Result{Workload: "wordcount", Value: 2, Unit: "words", Counts: map[string]int64{"a": 1, "c": 1}}},
		}, 5, map[string]int64{"a": 3, "b": 1, "c": 1}, "words"},
		{"built-ins without counts", []PartitionOutput{
			{Index: 0, Result: &workload.Result{Workload: "primes", Value: 348513, Unit: "primes"}},
			{Index: 1, Result: &workload.Result{Workload: "primes", Value: 316066, Unit: "primes"}},
		}, 664579, nil, "primes"},
		{"no partitions", nil, 0, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Reduce(ReduceSum, tt.outs)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != ReduceSum || r.Value != tt.value || !reflect.DeepEqual(r.Counts, tt.counts) || r.Partitions != len(tt.outs) || r.Unit != tt.unit {
				t.Errorf("got %+v, want value %v counts %v unit %q", r, tt.value, tt.counts, tt.unit)
			}
		})
	}
}

func TestReduceSumRefusesOtherOutput(t *testing.T) {
	tests := []struct {
		name string
		outs []PartitionOutput
		want string
	}{
		{"empty", []PartitionOutput{stdoutOf(0, "1"), stdoutOf(3, " \n")}, "partition 3 printed nothing"},
		{"word", []PartitionOutput{stdoutOf(2, "many")}, `partition 2 printed "many", not a number`},
		{"infinity", []PartitionOutput{stdoutOf(0, "Inf")}, "not a number"},
		{"count not a number", []PartitionOutput{stdoutOf(1, "a 1\nb two\n")}, `partition 1, stdout line 2 "b two"`},
		{"fractional count", []PartitionOutput{stdoutOf(0, "a 1.5\nb 2")}, `stdout line 1 "a 1.5"`},
		{"bare numbers on lines", []PartitionOutput{stdoutOf(0, "1\n2\n")}, `stdout line 1 "1"`},
		{"duplicate index", []PartitionOutput{stdoutOf(0, "1"), stdoutOf(0, "2")}, "partition 0 has two outputs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Reduce(ReduceSum, tt.outs)
			if !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrBadOutput mentioning %q", err, tt.want)
			}
		})
	}
}

func TestReduceConcatIsInIndexOrderWhateverTheArrivalOrder(t *testing.T) {
	var outs []PartitionOutput
	for i := range 20 {
		outs = append(outs, stdoutOf(i, strings.Repeat(string(rune('a'+i)), 3)+"\n"))
	}
	outs[7].Stdout = []byte("no newline") // must not run into the next
	outs[8].Stdout = nil                  // an empty partition adds nothing
	want, err := Reduce(ReduceConcat, outs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(want.Text, "aaa\nbbb\n") || !strings.Contains(want.Text, "ggg\nno newline\njjj\n") {
		t.Errorf("text = %q", want.Text)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := append([]PartitionOutput(nil), outs...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, err := Reduce(ReduceConcat, shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("order changed the result:\n got %q\nwant %q", got.Text, want.Text)
		}
	}
	if outs[0].Index != 0 || outs[19].Index != 19 {
		t.Error("Reduce reordered its argument")
	}
}

func TestReduceConcatBuiltins(t *testing.T) {
	res := &workload.Result{Workload: "membw", Value: 1234.5, Unit: "MB/s", Seconds: 0.5}
	line, _ := json.Marshal(res)
	r, err := Reduce(ReduceConcat, []PartitionOutput{
		{Index: 1, Result: res},
		{Index: 0, Result: &workload.Result{Workload: "primes", Text: "[0,10)"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[0,10)\n" + string(line) + "\n"; r.Text != want {
		t.Errorf("text = %q, want %q", r.Text, want)
	}
}

func TestReduceNoneAndUnknown(t *testing.T) {
	outs := []PartitionOutput{stdoutOf(0, "anything"), stdoutOf(1, "at all")}
	for _, kind := range []string{ReduceNone, ""} {
		r, err := Reduce(kind, outs)
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind != ReduceNone || r.Partitions != 2 || r.Value != 0 || r.Text != "" || r.Counts != nil {
			t.Errorf("Reduce(%q) = %+v", kind, r)
		}
	}
	if _, err := Reduce("max", outs); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("unknown reduce: %v, want ErrInvalidSpec", err)
	}
}

func TestReducedWriteFiles(t *testing.T) {
	tests := []struct {
		name  string
		r     *Reduced
		files map[string]string // name -> content; "" checks only presence
		none  []string
	}{
		{"sum with counts", &Reduced{Kind: ReduceSum, Value: 9, Partitions: 2, Counts: map[string]int64{"b": 3, "a": 3, "c": 2, "tab\there": 1}},
			map[string]string{ResultJSON: "", CountsTSV: "a\t3\nb\t3\nc\t2\n\"tab\\there\"\t1\n"}, []string{ResultText}},
		{"concat", &Reduced{Kind: ReduceConcat, Text: "x\ny\n", Partitions: 2},
			map[string]string{ResultJSON: "", ResultText: "x\ny\n"}, []string{CountsTSV}},
		{"none", &Reduced{Kind: ReduceNone, Partitions: 4}, map[string]string{ResultJSON: ""}, []string{ResultText, CountsTSV}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tt.r.WriteFiles(dir); err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.files {
				data, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if want != "" && string(data) != want {
					t.Errorf("%s = %q, want %q", name, data, want)
				}
			}
			for _, name := range tt.none {
				if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
					t.Errorf("%s written for %s", name, tt.r.Kind)
				}
			}
			var back Reduced
			data, _ := os.ReadFile(filepath.Join(dir, ResultJSON))
			if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(&back, tt.r) {
				t.Errorf("result.json reads back as %+v (%v), want %+v", back, err, tt.r)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != len(tt.files) {
				t.Errorf("%d files in the directory, want %d (temporary files left?)", len(entries), len(tt.files))
			}
		})
	}
}
