package jobs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/workload"
)

// Bounds checked by Validate.
const (
	MinMemoryMiB   = 128
	MaxScratchMiB  = 65536
	MaxPoolSize    = 64
	MaxSlots       = 16
	MaxAttemptsCap = 10
	// MaxPartitions keeps the journal and the reduce small; a job that
	// wants more wants bigger partitions.
	MaxPartitions = 100000
)

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)
	tagRE    = regexp.MustCompile(`^[a-z0-9_]{1,31}$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// inputsTag is the share the runner adds for Spec.Inputs.
const inputsTag = "inputs"

// Validate checks everything that can be checked before a VM exists,
// including the inputs on disk. Every problem is reported, each as a
// *FieldError naming the field; all wrap ErrInvalidSpec.
func (s *Spec) Validate() error {
	return inFile("", s.validate()...)
}

func (s *Spec) validate() problems {
	var errs problems
	if !nameRE.MatchString(s.Name) {
		errs.add("name", "%q is not a valid job name: use 1 to 31 lowercase letters, digits and '-', starting with a letter or digit (it becomes part of VM names)", s.Name)
	}
	errs = append(errs, s.validateVM()...)
	if s.Pool.Size < 1 || s.Pool.Size > MaxPoolSize {
		errs.add("pool.size", "must be between 1 and %d VMs (got %d)", MaxPoolSize, s.Pool.Size)
	}
	if a := s.Pool.Autoscale; a != nil {
		if err := a.Validate(); err != nil {
			errs.add("pool.autoscale", "%v", err)
		}
	}
	if s.Pool.Slots < 1 || s.Pool.Slots > MaxSlots {
		errs.add("pool.slots", "must be between 1 and %d partitions at once per VM (got %d)", MaxSlots, s.Pool.Slots)
	}
	errs = append(errs, s.validateWorkload()...)
	switch s.Reduce {
	case ReduceSum, ReduceConcat, ReduceNone:
	default:
		errs.add("reduce", "%q is not a reduce: use sum, concat or none", s.Reduce)
	}
	if s.Timeout.Duration <= 0 {
		errs.add("timeout", "must be positive (got %s): it bounds each partition attempt; write e.g. 90s or 10m", s.Timeout.Duration)
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > MaxAttemptsCap {
		errs.add("max_attempts", "must be between 1 and %d (got %d)", MaxAttemptsCap, s.MaxAttempts)
	}
	return append(errs, s.validatePartition()...)
}

func (s *Spec) validateVM() problems {
	var errs problems
	vm := s.VM
	if vm.VCPUs < 1 || vm.VCPUs > hypervisor.MaxVCPUs {
		errs.add("vm.vcpus", "must be between 1 and %d (got %d)", hypervisor.MaxVCPUs, vm.VCPUs)
	}
	if vm.MemoryMiB < MinMemoryMiB || vm.MemoryMiB > hypervisor.MaxMemoryMiB {
		errs.add("vm.memory_mib", "must be between %d and %d MiB (got %d)", MinMemoryMiB, hypervisor.MaxMemoryMiB, vm.MemoryMiB)
	}
	switch vm.Accel {
	case "auto", "kvm", "tcg":
	default:
		errs.add("vm.accel", "%q is not an accelerator: use auto, kvm or tcg", vm.Accel)
	}
	if vm.ScratchMiB < 0 || vm.ScratchMiB > MaxScratchMiB {
		errs.add("vm.scratch_mib", "must be between 0 (no scratch disk) and %d (got %d)", MaxScratchMiB, vm.ScratchMiB)
	}
	if vm.TBCacheMiB < 0 || vm.TBCacheMiB > hypervisor.MaxTBCacheMiB {
		errs.add("vm.tb_cache_mib", "must be between 0 (QEMU's default) and %d (got %d)", hypervisor.MaxTBCacheMiB, vm.TBCacheMiB)
	}
	if vm.Image != "" {
		if msg := checkDir(vm.Image); msg != "" {
			errs.add("vm.image", "%s: give a directory made by the image build, or leave image out to use the current cached one", msg)
		}
	}
	tags := map[string]int{}
	for i, sh := range vm.Shares {
		field := fmt.Sprintf("vm.shares[%d]", i)
		switch {
		case sh.Tag == inputsTag:
			errs.add(field+".tag", "%q is reserved for the spec's inputs directory: pick another tag", sh.Tag)
		case !tagRE.MatchString(sh.Tag):
			errs.add(field+".tag", "%q is not a valid tag: use 1 to 31 lowercase letters, digits and '_' (it is mounted at /mnt/<tag>)", sh.Tag)
		default:
			if j, dup := tags[sh.Tag]; dup {
				errs.add(field+".tag", "%q is also the tag of vm.shares[%d]: tags must differ", sh.Tag, j)
			}
			tags[sh.Tag] = i
		}
		if sh.Path == "" {
			errs.add(field+".path", "required: the host directory to share")
		} else if msg := checkDir(sh.Path); msg != "" {
			errs.add(field+".path", "%s: give an existing host directory", msg)
		}
	}
	return errs
}

func (s *Spec) validateWorkload() problems {
	var errs problems
	w := s.Workload
	builtins := strings.Join(workload.Names(), ", ")
	switch {
	case w.Builtin == "" && len(w.Exec) == 0:
		errs.add("workload", "set one of builtin (%s) or exec (a command line run in the guest)", builtins)
	case w.Builtin != "" && len(w.Exec) > 0:
		errs.add("workload", "set builtin or exec, not both")
	case w.Builtin != "":
		if err := workload.Validate(w.Builtin, w.Args); err != nil {
			field := "workload.args"
			if errors.Is(err, workload.ErrUnknownBuiltin) {
				field = "workload.builtin"
			}
			errs.add(field, "%v", err)
		}
	default:
		if w.Exec[0] == "" {
			errs.add("workload.exec[0]", "empty program name: exec is an argv list such as [sh, -c, 'wc -l $VMCTL_INPUTS']")
		}
		if len(w.Args) > 0 {
			errs.add("workload.args", "only for a builtin: put an exec command's arguments in exec")
		}
	}
	for _, k := range sortedKeys(w.Env) {
		switch {
		case !envKeyRE.MatchString(k):
			errs.add("workload.env."+k, "%q is not a valid environment variable name: use letters, digits and '_', not starting with a digit", k)
		case strings.HasPrefix(k, "VMCTL_"):
			errs.add("workload.env."+k, "names starting with VMCTL_ are set by vmctl for each partition: rename it")
		}
	}
	return errs
}

func (s *Spec) validatePartition() problems {
	var errs problems
	p := s.Partition
	switch p.By {
	case "", ByCount, ByBytes:
		switch {
		case p.Count < 1:
			errs.add("partition.count", "must be at least 1 (got %d): it is the number of partitions", p.Count)
		case p.Count > MaxPartitions:
			errs.add("partition.count", "must be at most %d (got %d): make each partition do more", MaxPartitions, p.Count)
		}
	case ByFiles:
		if p.Count != 0 {
			errs.add("partition.count", "must be left out with by: files (got %d): there is one partition per matched file; narrow partition.glob to run fewer", p.Count)
		}
	default:
		errs.add("partition.by", "%q is not a partitioning: use count (or leave it out), files or bytes", p.By)
		return errs
	}
	byInputs := p.By == ByFiles || p.By == ByBytes
	if s.Workload.Builtin == "wordcount" && !byInputs && s.Workload.Args["file"] == "" {
		errs.add("partition.by", "the wordcount built-in needs input files: set inputs and partition.by: files or bytes (or give workload.args.file)")
	}
	if p.Glob != "" && !byInputs {
		errs.add("partition.glob", "only used with partition.by files or bytes: leave it out, or set by")
	}
	switch {
	case byInputs:
		files, ferr := s.inputFiles()
		if ferr != nil {
			return append(errs, ferr)
		}
		if p.By == ByFiles && len(files) > MaxPartitions {
			errs.add("partition.glob", "matches %d files, more than the %d partitions a job may have: narrow it", len(files), MaxPartitions)
		}
	case s.Inputs != "":
		// Shared but not partitioned: it must still exist to be shared.
		if _, ferr := s.inputsRoot(); ferr != nil {
			errs = append(errs, ferr)
		}
	}
	return errs
}

// checkDir resolves p's symlinks and says what is wrong if it is not a
// directory; "" when it is.
func checkDir(p string) string {
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fmt.Sprintf("%s: %v", p, unwrapPath(err))
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return fmt.Sprintf("%s: %v", p, unwrapPath(err))
	}
	if !fi.IsDir() {
		return p + " is not a directory"
	}
	return ""
}

// problems collects a spec's errors so all are reported at once.
type problems []*FieldError

func (p *problems) add(field, format string, a ...any) {
	*p = append(*p, &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
