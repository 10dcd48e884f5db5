package procid

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

func TestAlive(t *testing.T) {
	self := os.Getpid()
	start, err := Start(self)
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
			if got := Alive(tt.pid, tt.start); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if !Alive(1, 0) {
		t.Fatal("pid 1 (alive, or EPERM to signal) must count as alive")
	}
}

func TestParseStart(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    uint64
		wantErr bool
	}{
		{name: "plain", stat: "42 (vmctl) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 0 0", want: 987654},
		{name: "command with spaces and parens", stat: "42 (a) b (c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123 0 0", want: 123},
		{name: "no command field", stat: "42 vmctl S", wantErr: true},
		{name: "truncated", stat: "42 (vmctl) S 1 2 3", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStart(42, tt.stat)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestBootID(t *testing.T) {
	a, err := BootID()
	if err != nil || len(a) < 32 {
		t.Fatalf("boot id %q, %v", a, err)
	}
	if b, _ := BootID(); b != a {
		t.Fatalf("boot id changed within one boot: %q then %q", a, b)
	}
}
