//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmctl/vmctl/agent"
)

// zombieChildren lists this process's children that have exited but not
// been collected.
func zombieChildren(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	var zombies []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state, ppid, ...
		rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(me) {
			zombies = append(zombies, pid)
		}
	}
	return zombies
}

// TestReaper makes the test process a child subreaper, so orphans come to
// it as they would to PID 1, then runs many commands that leave orphans
// behind while exec waits for its own children. No exec may lose its exit
// status to the reaper and no orphan may stay a zombie.
func TestReaper(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("become subreaper: %v", err)
	}
	defer func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newReaper(log.New(io.Discard, "", 0))
	go r.run(ctx)
	ex := agent.Executor{Starter: r}

	const runs = 40
	var wg sync.WaitGroup
	errs := make(chan error, runs)
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Background children outlive the shell: orphans, exiting
			// around the same time as the commands exec waits for.
			script := fmt.Sprintf("(sleep 0.0%d; true) & (exit 0) & exit %d", i%10, i%7)
			res, err := ex.Run(ctx, &agent.ExecRequest{Argv: []string{"sh", "-c", script}}, nil)
			switch {
			case err != nil:
				errs <- fmt.Errorf("run %d: %w", i, err)
			case res.ExitCode != i%7:
				errs <- fmt.Errorf("run %d: exit code %d, want %d", i, res.ExitCode, i%7)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	deadline := time.Now().Add(3 * time.Second)
	for {
		z := zombieChildren(t)
		if len(z) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphans left as zombies: %v", z)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSiginfoPid(t *testing.T) {
	var info unix.Siginfo
	cmd := []string{"/bin/sh", "-c", "exit 0"}
	p, err := os.StartProcess(cmd[0], cmd, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = p.Wait() }()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		// P_PID, not P_ALL: other tests' children may be exiting too.
		if err := unix.Waitid(unix.P_PID, p.Pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
			t.Fatal(err)
		}
		if got := siginfoPid(&info); got != 0 {
			if got != p.Pid {
				t.Fatalf("siginfo pid %d, want %d", got, p.Pid)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("child never showed up as exited")
}
