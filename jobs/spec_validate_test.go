package jobs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmctl/vmctl/autoscale"
)

// validSpec is a spec that passes Validate, over a temporary inputs
// directory holding a.txt and b.txt, for cases to break one field of.
func validSpec(t *testing.T) *Spec {
	t.Helper()
	dir := writeTree(t, map[string]string{"in/a.txt": "one two\n", "in/b.txt": "three\n", "share/x": ""})
	return &Spec{
		Name:        "ok",
		VM:          VMTemplate{VCPUs: 1, MemoryMiB: 256, Accel: "auto", Shares: []ShareSpec{{Path: filepath.Join(dir, "share"), Tag: "data"}}},
		Pool:        PoolSpec{Size: 2, Slots: 1},
		Inputs:      filepath.Join(dir, "in"),
		Workload:    WorkloadSpec{Builtin: "wordcount"},
		Partition:   PartitionSpec{By: ByBytes, Count: 2},
		Reduce:      ReduceSum,
		Timeout:     autoscale.D(time.Minute),
		MaxAttempts: 3,
		Dir:         dir,
	}
}

func TestValidSpecIsValid(t *testing.T) {
	if err := validSpec(t).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(s *Spec)
		field string // the FieldError's path
		want  string // also in the message
	}{
		{"name upper case", func(s *Spec) { s.Name = "Job" }, "name", "lowercase"},
		{"name empty", func(s *Spec) { s.Name = "" }, "name", "1 to 31"},
		{"name too long", func(s *Spec) { s.Name = strings.Repeat("a", 32) }, "name", "1 to 31"},
		{"name leading dash", func(s *Spec) { s.Name = "-x" }, "name", "starting with"},
		{"vcpus zero", func(s *Spec) { s.VM.VCPUs = 0 }, "vm.vcpus", "(got 0)"},
		{"vcpus huge", func(s *Spec) { s.VM.VCPUs = 1000 }, "vm.vcpus", "(got 1000)"},
		{"memory small", func(s *Spec) { s.VM.MemoryMiB = 64 }, "vm.memory_mib", "between 128"},
		{"accel", func(s *Spec) { s.VM.Accel = "hvf" }, "vm.accel", "auto, kvm or tcg"},
		{"scratch negative", func(s *Spec) { s.VM.ScratchMiB = -1 }, "vm.scratch_mib", "(got -1)"},
		{"scratch huge", func(s *Spec) { s.VM.ScratchMiB = 65537 }, "vm.scratch_mib", "65536"},
		{"image missing", func(s *Spec) { s.VM.Image = filepath.Join(s.Dir, "noimage") }, "vm.image", "no such file"},
		{"share missing", func(s *Spec) { s.VM.Shares[0].Path = filepath.Join(s.Dir, "nope") }, "vm.shares[0].path", "no such file"},
		{"share not a dir", func(s *Spec) { s.VM.Shares[0].Path = filepath.Join(s.Dir, "in/a.txt") }, "vm.shares[0].path", "not a directory"},
		{"share no path", func(s *Spec) { s.VM.Shares[0].Path = "" }, "vm.shares[0].path", "required"},
		{"share tag inputs", func(s *Spec) { s.VM.Shares[0].Tag = "inputs" }, "vm.shares[0].tag", "reserved"},
		{"share tag bad", func(s *Spec) { s.VM.Shares[0].Tag = "My-Tag" }, "vm.shares[0].tag", "lowercase letters"},
		{"share tag duplicate", func(s *Spec) { s.VM.Shares = append(s.VM.Shares, s.VM.Shares[0]) }, "vm.shares[1].tag", "also the tag of vm.shares[0]"},
		{"pool size", func(s *Spec) { s.Pool.Size = 65 }, "pool.size", "between 1 and 64"},
		{"pool slots", func(s *Spec) { s.Pool.Slots = 0 }, "pool.slots", "between 1 and 16"},
		{"no workload", func(s *Spec) { s.Workload = WorkloadSpec{} }, "workload", "builtin (cpu-hash"},
		{"both workloads", func(s *Spec) { s.Workload.Exec = []string{"true"} }, "workload", "not both"},
		{"unknown builtin", func(s *Spec) { s.Workload.Builtin = "grep" }, "workload.builtin", "grep"},
		{"bad builtin arg", func(s *Spec) { s.Workload.Args = map[string]string{"colour": "x"} }, "workload.args", "--colour"},
		{"missing builtin arg", func(s *Spec) {
			s.Workload = WorkloadSpec{Builtin: "primes"}
			s.Partition = PartitionSpec{Count: 2}
		}, "workload.args", "--to"},
		{"exec empty program", func(s *Spec) { s.Workload = WorkloadSpec{Exec: []string{""}} }, "workload.exec[0]", "empty program"},
		{"args with exec", func(s *Spec) { s.Workload = WorkloadSpec{Exec: []string{"cat"}, Args: map[string]string{"a": "b"}} }, "workload.args", "only for a builtin"},
		{"env reserved", func(s *Spec) { s.Workload.Env = map[string]string{"VMCTL_PARTITION": "3"} }, "workload.env.VMCTL_PARTITION", "set by vmctl"},
		{"env bad name", func(s *Spec) { s.Workload.Env = map[string]string{"1X": "3"} }, "workload.env.1X", "not a valid environment variable"},
		{"reduce", func(s *Spec) { s.Reduce = "avg" }, "reduce", "sum, concat or none"},
		{"reduce empty", func(s *Spec) { s.Reduce = "" }, "reduce", "sum, concat or none"},
		{"timeout zero", func(s *Spec) { s.Timeout = Duration{} }, "timeout", "positive"},
		{"timeout negative", func(s *Spec) { s.Timeout = autoscale.D(-time.Second) }, "timeout", "positive"},
		{"attempts zero", func(s *Spec) { s.MaxAttempts = 0 }, "max_attempts", "(got 0)"},
		{"attempts many", func(s *Spec) { s.MaxAttempts = 11 }, "max_attempts", "(got 11)"},
		{"by unknown", func(s *Spec) { s.Partition.By = "lines" }, "partition.by", "count (or leave it out), files or bytes"},
		{"count negative", func(s *Spec) { s.Partition.Count = -3 }, "partition.count", "must be at least 1 (got -3)"},
		{"count zero by count", func(s *Spec) {
			s.Workload = WorkloadSpec{Builtin: "primes", Args: map[string]string{"to": "100"}}
			s.Partition = PartitionSpec{}
		}, "partition.count", "at least 1 (got 0)"},
		{"count too many", func(s *Spec) { s.Partition.Count = MaxPartitions + 1 }, "partition.count", "at most"},
		{"count with files", func(s *Spec) { s.Partition.By = ByFiles }, "partition.count", "left out with by: files"},
		{"glob by count", func(s *Spec) {
			s.Workload = WorkloadSpec{Builtin: "primes", Args: map[string]string{"to": "100"}}
			s.Partition = PartitionSpec{Count: 2, Glob: "*"}
		}, "partition.glob", "only used with"},
		{"inputs missing", func(s *Spec) { s.Inputs = "" }, "inputs", `required when partition.by is "bytes"`},
		{"inputs not found", func(s *Spec) { s.Inputs = filepath.Join(s.Dir, "gone") }, "inputs", "no such file"},
		{"inputs a file", func(s *Spec) { s.Inputs = filepath.Join(s.Dir, "in/a.txt") }, "inputs", "not a directory"},
		{"inputs missing by count", func(s *Spec) {
			s.Workload = WorkloadSpec{Exec: []string{"true"}}
			s.Partition = PartitionSpec{Count: 2}
			s.Inputs = filepath.Join(s.Dir, "gone")
		}, "inputs", "no such file"},
		{"glob matches nothing", func(s *Spec) { s.Partition.Glob = "*.csv" }, "partition.glob", "matches no regular file"},
		{"glob only directories", func(s *Spec) {
			s.Inputs = s.Dir
			s.Partition.Glob = "in"
		}, "partition.glob", "matches no regular file"},
		{"glob escapes", func(s *Spec) { s.Partition.Glob = "../*" }, "partition.glob", "leaves the inputs directory"},
		{"glob absolute", func(s *Spec) { s.Partition.Glob = "/etc/*" }, "partition.glob", "leaves the inputs directory"},
		{"glob malformed", func(s *Spec) { s.Partition.Glob = "[" }, "partition.glob", "not a valid pattern"},
		{"wordcount by count", func(s *Spec) { s.Partition = PartitionSpec{Count: 2} }, "partition.by", "wordcount built-in needs input files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec(t)
			tt.edit(s)
			err := s.Validate()
			wantSpecError(t, err, tt.want)
			var fields []string
			for _, fe := range fieldErrors(err) {
				fields = append(fields, fe.Field)
				if fe.Field == tt.field {
					return
				}
			}
			t.Errorf("no error for field %s (got fields %q): %v", tt.field, fields, err)
		})
	}
}

func TestValidateAcceptsVariants(t *testing.T) {
	tests := []struct {
		name string
		edit func(s *Spec)
	}{
		{"by count written out", func(s *Spec) {
			s.Workload = WorkloadSpec{Builtin: "primes", Args: map[string]string{"to": "100"}}
			s.Partition = PartitionSpec{By: ByCount, Count: 3}
			s.Inputs = ""
		}},
		{"exec by files", func(s *Spec) {
			s.Workload = WorkloadSpec{Exec: []string{"wc", "-l"}, Env: map[string]string{"LC_ALL": "C"}}
			s.Partition = PartitionSpec{By: ByFiles}
		}},
		{"wordcount by count with a file flag", func(s *Spec) {
			s.Workload.Args = map[string]string{"file": "/mnt/inputs/a.txt"}
			s.Partition = PartitionSpec{Count: 1}
		}},
		{"no shares", func(s *Spec) { s.VM.Shares = nil }},
		{"glob into a subdirectory", func(s *Spec) {
			s.Inputs = s.Dir
			s.Partition.Glob = "in/*.txt"
		}},
		{"symlink inside the inputs", func(s *Spec) {
			if err := os.Symlink("a.txt", filepath.Join(s.Inputs, "link.txt")); err != nil {
				t.Fatal(err)
			}
		}},
		{"inputs itself a symlink", func(s *Spec) {
			link := filepath.Join(s.Dir, "inlink")
			if err := os.Symlink(s.Inputs, link); err != nil {
				t.Fatal(err)
			}
			s.Inputs = link
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec(t)
			tt.edit(s)
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestValidateRefusesSymlinkEscape(t *testing.T) {
	outside := writeTree(t, map[string]string{"secret.txt": "no\n"})
	tests := []struct {
		name   string
		make   func(t *testing.T, inputs string)
		glob   string
		points string // where the error must say the file leads
	}{
		{"file symlink to a file outside", func(t *testing.T, in string) {
			mustSymlink(t, filepath.Join(outside, "secret.txt"), filepath.Join(in, "leak.txt"))
		}, "", filepath.Join(outside, "secret.txt")},
		{"relative symlink climbing out", func(t *testing.T, in string) {
			rel, _ := filepath.Rel(in, filepath.Join(outside, "secret.txt"))
			mustSymlink(t, rel, filepath.Join(in, "leak.txt"))
		}, "", filepath.Join(outside, "secret.txt")},
		{"directory symlink to outside", func(t *testing.T, in string) {
			mustSymlink(t, outside, filepath.Join(in, "sub"))
		}, "sub/*", filepath.Join(outside, "secret.txt")},
		{"symlink to /etc/passwd", func(t *testing.T, in string) {
			mustSymlink(t, "/etc/passwd", filepath.Join(in, "passwd"))
		}, "", "/etc/passwd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec(t)
			tt.make(t, s.Inputs)
			s.Partition.Glob = tt.glob
			err := s.Validate()
			wantSpecError(t, err, "inputs: input ", "resolves to "+tt.points, "outside the inputs directory")
			if _, err := s.Partitions(); err == nil {
				t.Error("Partitions accepted an escaping input")
			}
		})
	}
}

func TestValidateRefusesDanglingSymlink(t *testing.T) {
	s := validSpec(t)
	mustSymlink(t, filepath.Join(s.Dir, "gone"), filepath.Join(s.Inputs, "dangling.txt"))
	wantSpecError(t, s.Validate(), "input dangling.txt", "dangling symlink")
}

func TestValidateRefusesSpecialFiles(t *testing.T) {
	s := validSpec(t)
	if err := syscall.Mkfifo(filepath.Join(s.Inputs, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	wantSpecError(t, s.Validate(), "partition.glob: input pipe is a", "not a regular file")
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
