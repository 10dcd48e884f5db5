package workload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// hashBlock is how much data is generated, then hashed, at a time.
const hashBlock = 1 << 20

func cpuHash() *builtin {
	return &builtin{
		name: "cpu-hash",
		help: "SHA-256 over pseudo-random data seeded by the partition index",
		flags: []flagSpec{
			{name: "mib", kind: intFlag, def: "256", min: 1, max: 1 << 24, help: "MiB to hash"},
		},
		run: runCPUHash,
	}
}

func runCPUHash(ctx context.Context, a *args, p partition) (Result, error) {
	total := a.int("mib") << 20
	src := newData("vmctl cpu-hash", p.index)
	buf := make([]byte, hashBlock)
	h := sha256.New()
	began := time.Now()
	// Only hashing is timed: the generator is not what is measured.
	var hashing time.Duration
	for done := int64(0); done < total; done += hashBlock {
		if err := canceled(ctx, a.builtin); err != nil {
			return Result{}, err
		}
		_, _ = src.Read(buf) // never fails
		t := time.Now()
		h.Write(buf)
		hashing += time.Since(t)
	}
	return Result{
		Value:   mbPerSecond(total, hashing),
		Unit:    UnitMBps,
		Text:    hex.EncodeToString(h.Sum(nil)),
		Bytes:   total,
		Seconds: time.Since(began).Seconds(),
	}, nil
}
