package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// procTree writes files under a fake procfs root.
func procTree(t *testing.T, files map[string]string) ProcFS {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ProcFS{Root: root}
}

// A real smaps_rollup of a QEMU process (trimmed).
const qemuSmapsRollup = `55d0c8a00000-7ffd2b5fe000 ---p 00000000 00:00 0                          [rollup]
Rss:              231424 kB
Pss:              176130 kB
Pss_Dirty:        160212 kB
Pss_Anon:         158720 kB
Pss_File:          17410 kB
Pss_Shmem:             0 kB
Shared_Clean:      61440 kB
Private_Dirty:    160212 kB
Swap:                  0 kB
SwapPss:               0 kB
`

func TestProcFSMemory(t *testing.T) {
	p := procTree(t, map[string]string{
		"42/smaps_rollup": qemuSmapsRollup,
		"43/smaps_rollup": "Rss: 12 kB\n",
		"44/smaps_rollup": "Rss: 12 MB\nPss: 3 kB\n",
	})
	m, err := p.Memory(42)
	if err != nil {
		t.Fatal(err)
	}
	// Pss_Dirty etc. must not be mistaken for Pss.
	if m.RSS != 231424<<10 || m.PSS != 176130<<10 {
		t.Errorf("Memory = %+v, want RSS 231424 kB, PSS 176130 kB", m)
	}
	for _, pid := range []int{43, 44, 45} {
		if _, err := p.Memory(pid); err == nil {
			t.Errorf("pid %d: want an error (missing Pss, wrong unit, no process)", pid)
		}
	}
}

func TestProcFSCPUTime(t *testing.T) {
	// Fields after the name: state ppid pgrp session tty tpgid flags
	// minflt cminflt majflt cmajflt utime stime ...
	stat := func(comm string, utime, stime string) string {
		return "1234 (" + comm + ") S 1 1234 1234 0 -1 4194560 5000 0 12 0 " + utime + " " + stime + " 0 0 20 0 4 0 100 1000000 5000\n"
	}
	p := procTree(t, map[string]string{
		"10/stat": stat("qemu-system-x86", "250", "130"),
		// A name with spaces and ')' must not shift the fields.
		"11/stat": stat("evil) R 1 2 3 (x", "7", "3"),
		"12/stat": "1234 (short) S 1 2\n",
		"13/stat": stat("qemu", "x", "1"),
	})
	tests := []struct {
		pid  int
		want time.Duration
		ok   bool
	}{
		{10, 3800 * time.Millisecond, true},
		{11, 100 * time.Millisecond, true},
		{12, 0, false},
		{13, 0, false},
		{14, 0, false},
	}
	for _, tt := range tests {
		got, err := p.CPUTime(tt.pid)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CPUTime(%d) = %s, %v; want %s ok=%v", tt.pid, got, err, tt.want, tt.ok)
		}
	}
}

func TestProcFSMemAvailable(t *testing.T) {
	p := procTree(t, map[string]string{"meminfo": "MemTotal:       24684348 kB\nMemFree:        23913984 kB\nMemAvailable:   24158160 kB\nBuffers:           12 kB\n"})
	got, err := p.MemAvailable()
	if err != nil || got != 24158160<<10 {
		t.Fatalf("MemAvailable = %d, %v", got, err)
	}
	if _, err := (ProcFS{Root: t.TempDir()}).MemAvailable(); err == nil {
		t.Fatal("want an error without meminfo")
	}
}

// TestProcFSReadsThisProcess checks the parsers against the real /proc.
func TestProcFSReadsThisProcess(t *testing.T) {
	p := ProcFS{Root: "/proc"}
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("no /proc/PID/smaps_rollup here")
	}
	m, err := p.Memory(os.Getpid())
	if err != nil || m.RSS == 0 || m.PSS == 0 || m.PSS > m.RSS {
		t.Errorf("Memory(self) = %+v, %v", m, err)
	}
	if _, err := p.CPUTime(os.Getpid()); err != nil {
		t.Errorf("CPUTime(self): %v", err)
	}
	if a, err := p.MemAvailable(); err != nil || a == 0 {
		t.Errorf("MemAvailable = %d, %v", a, err)
	}
}

func TestProcFSCommandsCPUTime(t *testing.T) {
	stat := func(utime, stime int) string {
		return "1 (x) S 0 0 0 0 -1 0 0 0 0 0 " + strconv.Itoa(utime) + " " + strconv.Itoa(stime) + " 0 0 20 0 1 0 0 0 0\n"
	}
	p := procTree(t, map[string]string{
		"10/comm": "libvirtd\n", "10/stat": stat(150, 50),
		"11/comm": "virtlogd\n", "11/stat": stat(3, 2),
		"12/comm": "qemu-system-x86\n", "12/stat": stat(900, 100),
		"13/comm": "libvirtd\n", // exited between listing and reading its stat
		"meminfo": "MemAvailable: 1 kB\n",
	})
	got, err := p.CommandsCPUTime("libvirtd", "virtlogd")
	if err != nil {
		t.Fatal(err)
	}
	if want := 2050 * time.Millisecond; got != want {
		t.Fatalf("got %s, want %s (libvirtd 2 s + virtlogd 50 ms, not QEMU)", got, want)
	}
}
