package failpoint

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func reset(t *testing.T, value string) {
	t.Helper()
	t.Setenv(Env, value)
	once, enabled = sync.Once{}, nil
	t.Cleanup(func() { once, enabled = sync.Once{}, nil })
}

func TestDisabledPointReturnsAtOnce(t *testing.T) {
	reset(t, "")
	if err := Hit(context.Background(), BeforeReduce); err != nil {
		t.Fatalf("Hit of a disabled point: %v, want nil", err)
	}
}

func TestEnabledPointBlocksUntilContextEnds(t *testing.T) {
	reset(t, " other , "+BeforeReduce)
	if !Enabled(BeforeReduce) || Enabled(AfterStart) {
		t.Fatalf("Enabled: want only %s and other", BeforeReduce)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Hit(ctx, BeforeReduce)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hit: %v, want DeadlineExceeded", err)
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Fatalf("Hit returned after %v, before its context ended", time.Since(start))
	}
}
