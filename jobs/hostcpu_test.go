package jobs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadProcStatSumsTheAggregateAndCountsCPUs(t *testing.T) {
	stat := `cpu  100 0 50 800 50 0 0 0 40 0
cpu0 50 0 25 400 25 0 0 0 20 0
cpu1 50 0 25 400 25 0 0 0 20 0
intr 12345
ctxt 678
`
	p := filepath.Join(t.TempDir(), "stat")
	if err := os.WriteFile(p, []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	busy, total, cpus, ok := readProcStat(p)
	// busy: user+nice+system+irq+softirq+steal = 150; idle+iowait 850;
	// guest (40) is already in user.
	if !ok || busy != 150 || total != 1000 || cpus != 2 {
		t.Fatalf("busy %d total %d cpus %d ok %v, want 150 1000 2 true", busy, total, cpus, ok)
	}
	if _, _, _, ok := readProcStat(filepath.Join(t.TempDir(), "none")); ok {
		t.Fatal("a missing file must not read as ok")
	}
}
