package jobs

import (
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vmctl/vmctl/workload"
)

// Partition is one unit of work: one process, in a guest or natively.
type Partition struct {
	Index int `json:"index"`
	// Inputs are relative to Spec.Inputs: the runner maps them to
	// /mnt/inputs/<rel> in a guest, or <inputs>/<rel> natively.
	Inputs []string `json:"inputs,omitempty"`
	// Offset and Length are the byte range of the single input (by bytes).
	Offset int64 `json:"offset,omitempty"`
	Length int64 `json:"length,omitempty"`
	// Bytes is the input this partition reads (for MB/s); 0 by count.
	Bytes int64 `json:"bytes"`
}

// Partitions splits the job. The same spec over the same inputs always
// gives the same partitions, which is what lets a journal be resumed.
//
//   - by count ("" or "count"): Count partitions without inputs; the
//     workload splits its own range with VMCTL_PARTITION/VMCTL_PARTITIONS.
//   - by files: one partition per matched file, in name order.
//   - by bytes: each matched file is cut into byte ranges that end just
//     after a newline. A range never spans two files, so Count is shared
//     among the files in proportion to their sizes with at least one range
//     per non-empty file, and ranges that come out empty (a line longer
//     than the nominal range) are dropped. The number of partitions is
//     therefore Count, or more when there are more non-empty files than
//     Count, or fewer when lines are long. Empty files give none.
func (s *Spec) Partitions() ([]Partition, error) {
	switch s.Partition.By {
	case "", ByCount:
		if s.Partition.Count < 1 {
			return nil, &FieldError{Field: "partition.count", Msg: fmt.Sprintf("must be at least 1 (got %d)", s.Partition.Count)}
		}
		parts := make([]Partition, s.Partition.Count)
		for i := range parts {
			parts[i].Index = i
		}
		return parts, nil
	case ByFiles:
		files, ferr := s.inputFiles()
		if ferr != nil {
			return nil, ferr
		}
		parts := make([]Partition, len(files))
		for i, f := range files {
			parts[i] = Partition{Index: i, Inputs: []string{filepath.ToSlash(f.rel)}, Bytes: f.size}
		}
		return parts, nil
	case ByBytes:
		if s.Partition.Count < 1 {
			return nil, &FieldError{Field: "partition.count", Msg: fmt.Sprintf("must be at least 1 (got %d)", s.Partition.Count)}
		}
		files, ferr := s.inputFiles()
		if ferr != nil {
			return nil, ferr
		}
		root, ferr := s.inputsRoot()
		if ferr != nil {
			return nil, ferr
		}
		return splitBytes(root, files, s.Partition.Count)
	}
	return nil, &FieldError{Field: "partition.by", Msg: fmt.Sprintf("%q is not a partitioning: use count, files or bytes", s.Partition.By)}
}

// Env is the partition contract's environment (see package workload):
// inputs are given under inputsRoot, the inputs directory as the process
// sees it, and the byte range only when the job is split by bytes.
func (p Partition) Env(total int, inputsRoot, outputDir string) []string {
	inputs := make([]string, len(p.Inputs))
	for i, rel := range p.Inputs {
		// Slash paths: a guest is Linux whatever the host is.
		inputs[i] = path.Join(inputsRoot, rel)
	}
	env := []string{
		workload.EnvPartition + "=" + strconv.Itoa(p.Index),
		workload.EnvPartitions + "=" + strconv.Itoa(total),
		workload.EnvInputs + "=" + strings.Join(inputs, "\n"),
	}
	if p.Length > 0 {
		env = append(env,
			workload.EnvInputOffset+"="+strconv.FormatInt(p.Offset, 10),
			workload.EnvInputLength+"="+strconv.FormatInt(p.Length, 10))
	}
	return append(env, workload.EnvOutput+"="+outputDir)
}
