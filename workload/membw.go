package workload

import (
	"context"
	"time"
)

// copyChunk bounds one copy call, so cancellation is noticed within a
// few milliseconds even with a buffer of gigabytes.
const copyChunk = 16 << 20

func membw() *builtin {
	return &builtin{
		name: "membw",
		help: "memory bandwidth: copy a buffer pass after pass",
		flags: []flagSpec{
			{name: "mib", kind: intFlag, def: "256", min: 1, max: 1 << 16, help: "buffer size in MiB (twice this is allocated)"},
			{name: "passes", kind: intFlag, def: "10", min: 1, max: 1 << 30, help: "copies of the whole buffer"},
		},
		run: runMembw,
	}
}

func runMembw(ctx context.Context, a *args, p partition) (Result, error) {
	size := a.int("mib") << 20
	passes := a.int("passes")
	src, dst := make([]byte, size), make([]byte, size)
	// Touch every page of both buffers before timing, so page faults are
	// not counted as bandwidth.
	fill := byte(p.index)
	for i := range src {
		src[i] = fill
	}
	copy(dst, src)
	began := time.Now()
	for range passes {
		for off := int64(0); off < size; off += copyChunk {
			if err := canceled(ctx, a.builtin); err != nil {
				return Result{}, err
			}
			end := min(off+copyChunk, size)
			copy(dst[off:end], src[off:end])
		}
	}
	took := time.Since(began)
	return Result{
		Value:   mbPerSecond(size*passes, took),
		Unit:    UnitMBps,
		Bytes:   size * passes,
		Ops:     passes,
		Seconds: took.Seconds(),
	}, nil
}
