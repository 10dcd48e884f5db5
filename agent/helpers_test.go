package agent

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// assertProcessGone checks that the pid written to pidFile is dead (or a
// zombie awaiting its reaper) shortly after.
func assertProcessGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("process %d still running", pid)
}

// pidWritten reports whether the shell has written its pid to name: the
// file exists as soon as the redirection opens it, before "PID\n" is in it.
func pidWritten(name string) bool {
	b, err := os.ReadFile(name)
	return err == nil && strings.HasSuffix(string(b), "\n")
}
