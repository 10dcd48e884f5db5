package workload

import (
	"context"
	"errors"
	"testing"
)

func TestMembw(t *testing.T) {
	res := mustRun(t, "membw", map[string]string{"mib": "4", "passes": "3"}, nil)
	if res.Value <= 0 || res.Bytes != 12<<20 || res.Ops != 3 || res.Unit != UnitMBps {
		t.Errorf("result %+v, want 12 MiB copied at a positive MB/s", res)
	}
}

func TestMembwCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, "membw", map[string]string{"mib": "1"}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}
