package workload

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// syscallCheckEvery is how many iterations run between context checks:
// often enough to stop within a millisecond, rarely enough not to count.
const syscallCheckEvery = 1024

func syscallsBuiltin() *builtin {
	return &builtin{
		name: "syscalls",
		help: "getppid(2) and a 1-byte write(2) to /dev/null, count times",
		flags: []flagSpec{
			{name: "count", kind: intFlag, def: "1000000", min: 1, max: 1 << 40, help: "iterations"},
		},
		run: runSyscalls,
	}
}

func runSyscalls(ctx context.Context, a *args, _ partition) (Result, error) {
	n := a.int("count")
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return Result{}, fmt.Errorf("workload: syscalls: %w", err)
	}
	defer null.Close()
	one := []byte{0}
	began := time.Now()
	for i := range n {
		if i%syscallCheckEvery == 0 {
			if err := canceled(ctx, a.builtin); err != nil {
				return Result{}, err
			}
		}
		syscall.Getppid()
		if _, err := null.Write(one); err != nil {
			return Result{}, fmt.Errorf("workload: syscalls: write %s: %w", os.DevNull, err)
		}
	}
	took := time.Since(began)
	return Result{
		Value:   perSecond(float64(2*n), took),
		Unit:    UnitSyscalls,
		Ops:     n,
		Seconds: took.Seconds(),
	}, nil
}
