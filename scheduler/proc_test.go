package scheduler

import (
	"os"
	"os/exec"
	"testing"
)

// exitedPID runs a process to its end and returns its pid: a pid nothing
// owns any more.
func exitedPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.Pid()
}

func TestProcessAlive(t *testing.T) {
	self := os.Getpid()
	start, err := processStart(self)
	if err != nil || start == 0 {
		t.Fatalf("start %d, %v", start, err)
	}
	dead := exitedPID(t)
	tests := []struct {
		name  string
		pid   int
		start uint64
		want  bool
	}{
		{name: "this process", pid: self, start: start, want: true},
		{name: "this pid, another start", pid: self, start: start + 1},
		{name: "this pid, start unknown", pid: self, want: true},
		{name: "exited", pid: dead, start: 1},
		{name: "exited, start unknown", pid: dead},
		{name: "no pid", pid: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := processAlive(tt.pid, tt.start); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if !processAlive(1, 0) {
		t.Fatal("pid 1 (alive, or EPERM to signal) must count as alive")
	}
}
