package workload

import (
	"math/bits"
	"strconv"
	"strings"
)

// Environment variables of the partition contract (see the package doc).
const (
	EnvPartition   = "VMCTL_PARTITION"
	EnvPartitions  = "VMCTL_PARTITIONS"
	EnvInputs      = "VMCTL_INPUTS"
	EnvInputOffset = "VMCTL_INPUT_OFFSET"
	EnvInputLength = "VMCTL_INPUT_LENGTH"
	EnvOutput      = "VMCTL_OUTPUT"
)

// maxPartitions bounds VMCTL_PARTITIONS far above any real job, so a
// typo fails loudly instead of making slices of nothing.
const maxPartitions = 1 << 20

// partition is what the jobs layer told this run about its share.
type partition struct {
	index, count int64
	inputs       []string
	// offset and length are the input byte range; length is -1 for "to
	// the end", and both are unset unless hasOffset or hasLength.
	offset, length       int64
	hasOffset, hasLength bool
	output               string
}

// readPartition reads the contract's variables; unset ones take their
// defaults (partition 0 of 1, no inputs).
func readPartition(getenv func(string) string) (partition, error) {
	p := partition{count: 1, length: -1}
	var err error
	if p.count, _, err = envInt(getenv, EnvPartitions, 1, maxPartitions, 1); err != nil {
		return p, err
	}
	if p.index, _, err = envInt(getenv, EnvPartition, 0, p.count-1, 0); err != nil {
		return p, err
	}
	for line := range strings.SplitSeq(getenv(EnvInputs), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			p.inputs = append(p.inputs, line)
		}
	}
	if p.offset, p.hasOffset, err = envInt(getenv, EnvInputOffset, 0, 1<<62, 0); err != nil {
		return p, err
	}
	if p.length, p.hasLength, err = envInt(getenv, EnvInputLength, 0, 1<<62, -1); err != nil {
		return p, err
	}
	p.output = getenv(EnvOutput)
	return p, nil
}

// envInt parses an integer variable in [lo, hi], returning def when unset.
func envInt(getenv func(string) string, name string, lo, hi, def int64) (int64, bool, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil:
		return 0, false, badEnv(name, v, "not an integer")
	case n < lo || n > hi:
		return 0, false, badEnv(name, v, "outside ["+strconv.FormatInt(lo, 10)+", "+strconv.FormatInt(hi, 10)+"]")
	}
	return n, true, nil
}

// slice returns this partition's share of [from, to): the index-th of
// count contiguous slices whose sizes differ by at most one, so the
// slices of all partitions tile the range exactly.
func (p partition) slice(from, to int64) (lo, hi int64) {
	at := func(i int64) int64 {
		// size*i can pass 2^63; size*i/count cannot.
		h, l := bits.Mul64(uint64(to-from), uint64(i))
		q, _ := bits.Div64(h, l, uint64(p.count))
		return from + int64(q)
	}
	return at(p.index), at(p.index + 1)
}
