package agent

import (
	"context"
	"strings"
	"testing"
)

func TestReadStatsFixture(t *testing.T) {
	st, err := ReadStats(context.Background(), "testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	want := GuestStats{
		CPU: CPUTimes{
			User: 100 * nsPerTick, Nice: 2 * nsPerTick, System: 30 * nsPerTick, Idle: 4000 * nsPerTick,
			IOWait: 5 * nsPerTick, IRQ: 6 * nsPerTick, SoftIRQ: 7 * nsPerTick, Steal: 8 * nsPerTick,
		},
		NumCPU:        2,
		Memory:        MemoryStats{Total: 2000000 << 10, Free: 1000000 << 10, Available: 1500000 << 10, Buffers: 1000 << 10, Cached: 200000 << 10},
		UptimeSeconds: 1234.56,
		LoadAverage:   [3]float64{0.5, 0.25, 0.1},
	}
	if *st != want {
		t.Errorf("stats =\n%+v\nwant\n%+v", *st, want)
	}
	if st.CPU.User != 1_000_000_000 {
		t.Errorf("100 ticks = %d ns, want 1s", st.CPU.User)
	}
}

func TestReadStatsLive(t *testing.T) {
	st, err := ReadStats(context.Background(), DefaultProcRoot)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.validate(); err != nil {
		t.Fatalf("live stats fail host validation: %v (%+v)", err, st)
	}
	if st.Memory.Total == 0 || st.CPU.Idle+st.CPU.User == 0 {
		t.Errorf("implausible stats %+v", st)
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantCPU int
		wantErr bool
	}{
		{"old kernel with four columns", "cpu 1 2 3 4\ncpu0 1 2 3 4\n", 1, false},
		{"no cpu lines", "intr 1\n", 0, true},
		{"aggregate only", "cpu 1 2 3 4\n", 0, true},
		{"non-numeric", "cpu a b c d\ncpu0 1 2 3 4\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, n, err := parseStat(strings.NewReader(tt.input))
			if (err != nil) != tt.wantErr || n != tt.wantCPU {
				t.Errorf("ncpu=%d err=%v, want ncpu=%d err=%v", n, err, tt.wantCPU, tt.wantErr)
			}
		})
	}
}

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    MemoryStats
		wantErr bool
	}{
		{"kB scaled", "MemTotal: 4 kB\nMemFree: 1 kB\n", MemoryStats{Total: 4096, Free: 1024}, false},
		{"missing total", "MemFree: 1 kB\n", MemoryStats{}, true},
		{"bad number", "MemTotal: x kB\n", MemoryStats{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMeminfo(strings.NewReader(tt.input))
			if (err != nil) != tt.wantErr || !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, %v; want %+v, err=%v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestLocalHandlerHello(t *testing.T) {
	h := &LocalHandler{ProcRoot: "testdata/proc", AgentVersion: "test"}
	info, err := h.Hello(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.KernelRelease != "6.1.0-vmctl" || info.UptimeSeconds != 1234.56 || info.ProtocolVersion != ProtocolVersion {
		t.Errorf("hello = %+v", info)
	}
}
