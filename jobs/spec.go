package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vmctl/vmctl/autoscale"
)

// ErrInvalidSpec is wrapped by every error about a job spec's content,
// from its YAML syntax to an input symlink that leaves the inputs
// directory. A read failure of the file itself is not one.
var ErrInvalidSpec = errors.New("invalid job spec")

// Spec is a job: what runs, over which inputs, split how, in what VMs.
// testdata/jobs/README.md documents every field with examples.
type Spec struct {
	Name        string        `yaml:"name" json:"name"` // [a-z0-9][a-z0-9-]{0,30}: it becomes part of VM names
	VM          VMTemplate    `yaml:"vm" json:"vm"`
	Pool        PoolSpec      `yaml:"pool" json:"pool"`
	Inputs      string        `yaml:"inputs,omitempty" json:"inputs,omitempty"` // host dir, shared read-only into each VM at /mnt/inputs
	Workload    WorkloadSpec  `yaml:"workload" json:"workload"`
	Partition   PartitionSpec `yaml:"partition" json:"partition"`
	Reduce      string        `yaml:"reduce" json:"reduce"`             // sum | concat | none
	Timeout     Duration      `yaml:"timeout" json:"timeout"`           // per partition attempt
	MaxAttempts int           `yaml:"max_attempts" json:"max_attempts"` // 1..10
	Output      string        `yaml:"output,omitempty" json:"output,omitempty"`
	Dir         string        `yaml:"-" json:"spec_dir"` // directory of the spec file (set by Parse)
}

// VMTemplate is every worker VM of the pool.
type VMTemplate struct {
	VCPUs      int    `yaml:"vcpus" json:"vcpus"`
	MemoryMiB  int    `yaml:"memory_mib" json:"memory_mib"`
	Accel      string `yaml:"accel" json:"accel"` // auto | kvm | tcg
	Pin        bool   `yaml:"pin" json:"pin"`
	Image      string `yaml:"image,omitempty" json:"image,omitempty"` // empty: the current cached image
	ScratchMiB int    `yaml:"scratch_mib,omitempty" json:"scratch_mib,omitempty"`
	// TBCacheMiB caps QEMU's TCG translation cache (ignored under KVM);
	// 0 keeps QEMU's default.
	TBCacheMiB int         `yaml:"tb_cache_mib,omitempty" json:"tb_cache_mib,omitempty"`
	Shares     []ShareSpec `yaml:"shares,omitempty" json:"shares,omitempty"`
}

// ShareSpec is a host directory mounted at /mnt/<tag> in every worker.
type ShareSpec struct {
	Path     string `yaml:"path" json:"path"`
	Tag      string `yaml:"tag" json:"tag"`
	Writable bool   `yaml:"writable" json:"writable"`
}

// PoolSpec sizes the pool: Size VMs, each running Slots partitions at once.
type PoolSpec struct {
	Size  int `yaml:"size" json:"size"`
	Slots int `yaml:"slots" json:"slots"`
	// Autoscale, when set, sizes the pool from measured load; Size is then
	// ignored (the pool starts at the policy's minimum).
	Autoscale *autoscale.Policy `yaml:"autoscale,omitempty" json:"autoscale,omitempty"`
}

// WorkloadSpec is what each partition runs: a built-in or a command.
type WorkloadSpec struct {
	Builtin string            `yaml:"builtin,omitempty" json:"builtin,omitempty"`
	Args    map[string]string `yaml:"args,omitempty" json:"args,omitempty"`
	Exec    []string          `yaml:"exec,omitempty" json:"exec,omitempty"`
	Env     map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
}

// PartitionSpec says how the job is split; see Spec.Partitions.
type PartitionSpec struct {
	Count int    `yaml:"count,omitempty" json:"count,omitempty"`
	By    string `yaml:"by,omitempty" json:"by,omitempty"` // "" or "count", "files", "bytes"
	Glob  string `yaml:"glob,omitempty" json:"glob,omitempty"`
}

// Partitioning modes (PartitionSpec.By). ByCount is also written "".
const (
	ByCount = "count"
	ByFiles = "files"
	ByBytes = "bytes"
)

// Reduce kinds (Spec.Reduce).
const (
	ReduceSum    = "sum"
	ReduceConcat = "concat"
	ReduceNone   = "none"
)

// Defaults for fields a spec leaves out.
const (
	DefaultVCPUs       = 1
	DefaultMemoryMiB   = 256
	DefaultAccel       = "auto"
	DefaultPoolSize    = 1
	DefaultSlots       = 1
	DefaultReduce      = ReduceNone
	DefaultTimeout     = 10 * time.Minute
	DefaultMaxAttempts = 3
	DefaultGlob        = "*"
)

// defaultSpec is decoded over, so a field the YAML leaves out keeps its
// default while one written as 0 stays 0 and fails validation: "unset"
// and "zero" differ without pointer fields.
func defaultSpec() *Spec {
	return &Spec{
		VM:          VMTemplate{VCPUs: DefaultVCPUs, MemoryMiB: DefaultMemoryMiB, Accel: DefaultAccel},
		Pool:        PoolSpec{Size: DefaultPoolSize, Slots: DefaultSlots},
		Reduce:      DefaultReduce,
		Timeout:     autoscale.D(DefaultTimeout),
		MaxAttempts: DefaultMaxAttempts,
	}
}

// Load reads, parses and validates the spec at path; relative paths in it
// are taken from path's directory.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read job spec: %w", err)
	}
	return parse(data, filepath.Dir(path), path)
}

// Parse parses and validates a spec whose relative paths are taken from
// dir ("" is the working directory).
func Parse(data []byte, dir string) (*Spec, error) {
	return parse(data, dir, "")
}

func parse(data []byte, dir, file string) (*Spec, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("job spec directory: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the file is empty: a job needs at least name and workload")
		}
		return nil, inFile(file, &FieldError{Msg: err.Error()})
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, inFile(file, &FieldError{Msg: "more than one YAML document: put one job in each file"})
	}
	// Our own walk first: it names unknown or mistyped fields by their
	// path. The strict decode below is the backstop for anything it misses.
	lines := map[string]int{}
	if errs := checkFields(&doc, specType, "", lines); len(errs) > 0 {
		return nil, inFile(file, errs...)
	}
	s := defaultSpec()
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(s); err != nil {
		return nil, inFile(file, &FieldError{Msg: err.Error()})
	}
	s.Dir = abs
	s.resolvePaths()
	if errs := s.validate(); len(errs) > 0 {
		for _, e := range errs {
			e.Line = lineOf(lines, e.Field)
		}
		return nil, inFile(file, errs...)
	}
	return s, nil
}

// resolvePaths makes every host path absolute against Dir, so the spec
// means the same wherever vmctl runs (and when read back from a journal).
func (s *Spec) resolvePaths() {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(s.Dir, p)
	}
	s.Inputs = abs(s.Inputs)
	s.Output = abs(s.Output)
	s.VM.Image = abs(s.VM.Image)
	for i := range s.VM.Shares {
		s.VM.Shares[i].Path = abs(s.VM.Shares[i].Path)
	}
}

// Duration is a time.Duration written as "90s" or "5m" in YAML and JSON.
type Duration = autoscale.Duration
