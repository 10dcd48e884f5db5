package workload

import "testing"

func TestSyscalls(t *testing.T) {
	res := mustRun(t, "syscalls", map[string]string{"count": "5000"}, nil)
	if res.Value <= 0 || res.Ops != 5000 || res.Unit != UnitSyscalls {
		t.Errorf("result %+v, want 5000 iterations at a positive rate", res)
	}
}
