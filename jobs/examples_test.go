package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vmctl/vmctl/workload"
)

// examplesDir holds the example specs; see its README.md.
var examplesDir = filepath.Join("..", "testdata", "jobs")

func TestExampleSpecsAreValid(t *testing.T) {
	for _, name := range []string{"primes.yaml", "wordcount.yaml", "sha256-files.yaml"} {
		t.Run(name, func(t *testing.T) {
			s, err := Load(filepath.Join(examplesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			if s.Pool.Size != 2 || s.VM.MemoryMiB != 256 || s.VM.VCPUs != 1 {
				t.Errorf("examples run under TCG in 256 MiB, 1 vCPU guests, pool 2: got vm %+v pool %+v", s.VM, s.Pool)
			}
		})
	}
}

// The autoscaling examples are what the README's figures and
// `bench autoscale` runs use: each parses, with the policy it describes.
func TestAutoscaleExampleSpecs(t *testing.T) {
	for _, tt := range []struct {
		file           string
		min, max, warm int
		vcpus, slots   int
		hostPriorOff   bool
	}{
		{"primes-autoscale.yaml", 1, 4, 0, 1, 1, false},
		{"primes-waves.yaml", 0, 4, 1, 1, 1, false},
		{"primes-contention.yaml", 1, 2, 0, 2, 2, true},
	} {
		t.Run(tt.file, func(t *testing.T) {
			s, err := Load(filepath.Join(examplesDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			a := s.Pool.Autoscale
			if a == nil {
				t.Fatal("no autoscale policy")
			}
			if a.Min != tt.min || a.Max != tt.max || a.Warm != tt.warm || s.VM.VCPUs != tt.vcpus || s.Pool.Slots != tt.slots {
				t.Errorf("min %d max %d warm %d vcpus %d slots %d, want %d %d %d %d %d",
					a.Min, a.Max, a.Warm, s.VM.VCPUs, s.Pool.Slots, tt.min, tt.max, tt.warm, tt.vcpus, tt.slots)
			}
			if off := a.Ceiling.HostCPU == 0; off != tt.hostPriorOff {
				t.Errorf("host prior off = %v, want %v (host_cpu %v)", off, tt.hostPriorOff, a.Ceiling.HostCPU)
			}
		})
	}
}

func TestBadExampleSpecs(t *testing.T) {
	tests := []struct {
		file  string
		field string
		line  int
		want  string
	}{
		{"bad-unknown-field.yaml", "vm.colour", 7, `unknown field "colour"`},
		{"bad-negative-count.yaml", "partition.count", 9, "must be at least 1 (got -3)"},
		{"bad-missing-inputs.yaml", "inputs", 0, `required when partition.by is "files"`},
		{"bad-inputs-not-found.yaml", "inputs", 4, "no such file or directory"},
		{"bad-timeout-unit.yaml", "timeout", 8, `duration "90" has no unit`},
		{"bad-builtin-and-exec.yaml", "workload", 4, "not both"},
		{"bad-symlink-escape.yaml", "inputs", 8, "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(examplesDir, tt.file)
			_, err := Load(path)
			wantSpecError(t, err, tt.want, path+":")
			for _, fe := range fieldErrors(err) {
				if fe.Field == tt.field {
					if fe.Line != tt.line {
						t.Errorf("%s reported at line %d, want %d", tt.field, fe.Line, tt.line)
					}
					return
				}
			}
			t.Errorf("no error for %s: %v", tt.field, err)
		})
	}
}

func TestBadExampleSymlinkEscape(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(examplesDir, "bad-symlink-escape.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "bad-symlink-escape.yaml")
	in := filepath.Join(dir, "escape-inputs")
	if err := os.WriteFile(spec, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "a.txt"), []byte("fine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, "/etc/passwd", filepath.Join(in, "passwd"))
	_, err = Load(spec)
	wantSpecError(t, err, spec+":8: inputs: input passwd resolves to /etc/passwd, outside the inputs directory")
}

// runBuiltinNatively runs every partition of a built-in job in this
// process, the way a worker would, and reduces the results.
func runBuiltinNatively(t *testing.T, s *Spec) *Reduced {
	t.Helper()
	parts, err := s.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	var outs []PartitionOutput
	for i := len(parts) - 1; i >= 0; i-- { // any order: Reduce sorts
		p := parts[i]
		env := envMap(p.Env(len(parts), s.Inputs, t.TempDir()))
		res, err := workload.Run(context.Background(), s.Workload.Builtin, s.Workload.Args, func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("partition %d: %v", p.Index, err)
		}
		outs = append(outs, PartitionOutput{Index: p.Index, Result: &res})
	}
	r, err := Reduce(s.Reduce, outs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestExamplePrimesSumsToTheKnownCount(t *testing.T) {
	s, err := Load(filepath.Join(examplesDir, "primes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := runBuiltinNatively(t, s)
	if r.Value != 664579 || r.Partitions != 4 || r.Unit != workload.UnitPrimes {
		t.Errorf("got %+v, want 664579 primes over 4 partitions", r)
	}
}

// The byte-range split must not change the count: the same built-in over
// whole files gives the same words.
func TestExampleWordcountMatchesAWholeFileCount(t *testing.T) {
	s, err := Load(filepath.Join(examplesDir, "wordcount.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := s.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	// The README promises this layout: gnu.txt, the largest file, cut
	// in two at a line boundary; the others whole.
	var layout []string
	for _, p := range parts {
		layout = append(layout, p.Inputs[0])
	}
	if want := []string{"gnu.txt", "gnu.txt", "mpl-2.0.txt", "permissive.txt"}; !reflect.DeepEqual(layout, want) || parts[1].Offset == 0 {
		t.Errorf("partitions %+v, want ranges of %v with gnu.txt cut", parts, want)
	}
	split := runBuiltinNatively(t, s)

	whole := *s
	whole.Partition = PartitionSpec{By: ByFiles, Glob: s.Partition.Glob}
	want := runBuiltinNatively(t, &whole)
	if split.Value == 0 || split.Value != want.Value || len(split.Counts) != len(want.Counts) {
		t.Fatalf("split: %v words, %d keys; whole files: %v words, %d keys", split.Value, len(split.Counts), want.Value, len(want.Counts))
	}
	for k, n := range want.Counts {
		if split.Counts[k] != n {
			t.Errorf("word %q: %d split, %d whole", k, split.Counts[k], n)
		}
	}
}

func TestExampleSha256FilesPrintsSha256sumLines(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum on this host")
	}
	s, err := Load(filepath.Join(examplesDir, "sha256-files.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := s.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	var outs []PartitionOutput
	var want strings.Builder
	for _, p := range parts {
		cmd := exec.Command(s.Workload.Exec[0], s.Workload.Exec[1:]...)
		outDir := t.TempDir()
		cmd.Env = append(os.Environ(), p.Env(len(parts), s.Inputs, outDir)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("partition %d: %v: %s", p.Index, err, stderr.String())
		}
		outs = append(outs, PartitionOutput{Index: p.Index, Stdout: out})
		if saved, err := os.ReadFile(filepath.Join(outDir, p.Inputs[0]+".sha256")); err != nil || !bytes.Equal(saved, out) {
			t.Errorf("partition %d: output file %q (%v), want a copy of stdout", p.Index, saved, err)
		}

		data, err := os.ReadFile(filepath.Join(s.Inputs, p.Inputs[0]))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		want.WriteString(hex.EncodeToString(sum[:]) + "  " + p.Inputs[0] + "\n")
	}
	r, err := Reduce(s.Reduce, outs)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 || r.Text != want.String() {
		t.Errorf("%d partitions, result:\n%s\nwant:\n%s", len(parts), r.Text, want.String())
	}
}
