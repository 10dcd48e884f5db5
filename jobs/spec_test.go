package jobs

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseAppliesDefaults(t *testing.T) {
	s, err := Parse([]byte("name: p\nworkload: {builtin: primes, args: {to: 1000}}\npartition: {count: 2}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := VMTemplate{VCPUs: DefaultVCPUs, MemoryMiB: DefaultMemoryMiB, Accel: DefaultAccel}
	if !reflect.DeepEqual(s.VM, want) {
		t.Errorf("vm = %+v, want %+v", s.VM, want)
	}
	if s.Pool != (PoolSpec{Size: 1, Slots: 1}) || s.Reduce != ReduceNone || s.Timeout.Duration != 10*time.Minute || s.MaxAttempts != 3 {
		t.Errorf("defaults not applied: pool %+v reduce %q timeout %s max_attempts %d", s.Pool, s.Reduce, s.Timeout, s.MaxAttempts)
	}
	if s.Workload.Args["to"] != "1000" {
		t.Errorf("an unquoted number in args should read as text: %q", s.Workload.Args["to"])
	}
}

func TestParseKeepsDefaultsOfPartlyWrittenSections(t *testing.T) {
	s, err := Parse([]byte("name: p\nvm: {vcpus: 2}\npool:\nworkload: {builtin: primes, args: {to: 1000}}\npartition: {count: 2}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if s.VM.VCPUs != 2 || s.VM.MemoryMiB != DefaultMemoryMiB || s.Pool.Size != 1 {
		t.Errorf("got vm %+v pool %+v", s.VM, s.Pool)
	}
}

func TestParseExplicitZeroIsNotTheDefault(t *testing.T) {
	_, err := Parse([]byte("name: p\nmax_attempts: 0\nvm: {vcpus: 0}\nworkload: {builtin: primes, args: {to: 1000}}\npartition: {count: 2}\n"), t.TempDir())
	wantSpecError(t, err, "max_attempts: must be between 1 and 10 (got 0)", "vm.vcpus: must be between 1")
}

func TestLoadResolvesPathsAgainstTheSpecDirectory(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"specs/in/a.txt":   "a\n",
		"specs/share/keep": "",
		"specs/job.yaml": `name: j
inputs: in
output: out/run1
vm:
  shares: [{path: share, tag: data}]
workload: {exec: [cat]}
partition: {by: files}
`,
	})
	t.Chdir(t.TempDir()) // the working directory must not matter
	s, err := Load(filepath.Join(dir, "specs/job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "specs")
	for name, got := range map[string]string{"dir": s.Dir, "inputs": s.Inputs, "output": s.Output, "share": s.VM.Shares[0].Path} {
		want := map[string]string{"dir": base, "inputs": filepath.Join(base, "in"), "output": filepath.Join(base, "out/run1"), "share": filepath.Join(base, "share")}[name]
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestParseNamesUnknownFieldsByPathAndLine(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"top level", "name: x\nreduc: sum\n", []string{"line 2: reduc: unknown field", `did you mean "reduce"?`, "a job spec takes: name, vm,"}},
		{"nested", "name: x\nvm:\n  memory: 512\n", []string{"line 3: vm.memory: unknown field", `did you mean "memory_mib"?`}},
		{"in a list", "name: x\nvm:\n  shares:\n    - path: /tmp\n      tag: t\n      mode: rw\n", []string{"line 6: vm.shares[0].mode: unknown field", "(vm.shares[0] takes: path, tag, writable)"}},
		{"several", "colour: red\nvm: {colour: blue}\n", []string{"line 1: colour:", "line 2: vm.colour:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), t.TempDir())
			wantSpecError(t, err, tt.want...)
		})
	}
}

func TestParseNamesMistypedFields(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"text for a number", "vm: {vcpus: two}", `line 1: vm.vcpus: must be a whole number (got "two")`},
		{"fraction for a number", "pool: {size: 1.5}", `pool.size: must be a whole number (got "1.5")`},
		{"text for a bool", "vm: {pin: sometimes}", `vm.pin: must be true or false (got "sometimes")`},
		{"scalar for a section", "vm: big", "vm: must be a mapping with the fields vcpus, memory_mib"},
		{"scalar for a list", "workload: {exec: ls}", "workload.exec: must be a list"},
		{"list for text", "name: [a, b]", "name: must be a single value"},
		{"duration without unit", "timeout: 90", `timeout: duration "90" has no unit: write 90s or 90m`},
		{"bad duration", "timeout: soon", `timeout: duration "soon": want a number and a unit`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), t.TempDir())
			wantSpecError(t, err, tt.want)
		})
	}
}

func TestParseRejectsSyntaxErrorsAndOddDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"syntax":   "name: [unclosed\n",
		"empty":    "",
		"two docs": "name: a\n---\nname: b\n",
		"dup key":  "name: a\nname: b\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(doc), t.TempDir())
			wantSpecError(t, err)
		})
	}
}

func TestLoadPutsTheFileNameAndLineInErrors(t *testing.T) {
	dir := writeTree(t, map[string]string{"job.yaml": "name: j\nworkload: {builtin: primes, args: {to: 100}}\npartition:\n  count: -3\n"})
	path := filepath.Join(dir, "job.yaml")
	_, err := Load(path)
	wantSpecError(t, err, path+":4: partition.count: must be at least 1 (got -3)")
}

func TestLoadMissingFileIsNotAnInvalidSpec(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || errors.Is(err, ErrInvalidSpec) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want a not-exist error that is not ErrInvalidSpec", err)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Parse([]byte("name: Bad_Name\nworkload: {builtin: primes, exec: [x]}\npartition: {count: 1}\nreduce: average\n"), t.TempDir())
	wantSpecError(t, err, "line 1: name:", "line 2: workload: set builtin or exec, not both", `line 4: reduce: "average" is not a reduce`)
	if n := len(fieldErrors(err)); n != 3 {
		t.Errorf("%d field errors, want 3: %v", n, err)
	}
}

func TestSpecSurvivesAJSONRoundTrip(t *testing.T) {
	dir := writeTree(t, map[string]string{"in/a.txt": "x\n", "sh/k": ""})
	s, err := Parse([]byte(`name: rt
vm: {vcpus: 2, memory_mib: 512, accel: tcg, pin: true, scratch_mib: 64, shares: [{path: sh, tag: s, writable: true}]}
pool: {size: 3, slots: 2}
inputs: in
workload: {builtin: wordcount, env: {A: b}}
partition: {by: bytes, count: 3, glob: "*.txt"}
reduce: sum
timeout: 1m30s
max_attempts: 5
output: out
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"timeout":"1m30s"`) || !strings.Contains(string(data), `"spec_dir":`) {
		t.Errorf("unexpected JSON: %s", data)
	}
	var back Spec
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*s, back) {
		t.Errorf("round trip changed the spec:\n got %+v\nwant %+v", back, *s)
	}
	if err := back.Validate(); err != nil {
		t.Errorf("the spec read back from JSON no longer validates: %v", err)
	}
}

func TestDurationJSON(t *testing.T) {
	for in, want := range map[string]time.Duration{`"90s"`: 90 * time.Second, `"1h"`: time.Hour, `1500000000`: 1500 * time.Millisecond} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.Duration != want {
			t.Errorf("unmarshal %s = %v, %v; want %v", in, d.Duration, err, want)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"90"`), &d); err == nil {
		t.Error(`"90" parsed without a unit`)
	}
}
