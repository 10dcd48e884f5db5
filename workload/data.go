package workload

import (
	"encoding/binary"
	"math/rand/v2"
)

// newData returns a deterministic stream of pseudo-random bytes for a
// partition. ChaCha8's output for a seed is fixed by its specification,
// so a digest over it is the same on every machine and Go release.
func newData(purpose string, index int64) *rand.ChaCha8 {
	var seed [32]byte
	copy(seed[:24], purpose)
	binary.LittleEndian.PutUint64(seed[24:], uint64(index))
	return rand.NewChaCha8(seed)
}
