//go:build linux

package main

import (
	"context"
	"errors"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmctl/vmctl/agent"
)

// blockedRetry is how soon the reaper looks again when the first zombie it
// sees is one of exec's own, about to be collected by exec's Wait.
const blockedRetry = 20 * time.Millisecond

// reaper collects orphans, which the kernel reparents to PID 1, without
// ever stealing the exit status of a process exec is waiting for.
//
// A plain wait4(-1) on SIGCHLD would race with exec.Cmd.Wait: whichever
// runs first gets the status, and the other sees ECHILD. Instead the
// reaper peeks with waitid(P_ALL, WEXITED|WNOHANG|WNOWAIT), which names a
// zombie without collecting it, and collects it with wait4(pid) only if
// the pid is not one exec started. The set of exec's pids is guarded by a
// mutex that exec holds across fork (cmd.Start) and registration, and the
// reaper holds across peek and collect, so a child that exits at once
// cannot be mistaken for an orphan. Exec forgets a pid after its Wait has
// collected it; should the pid be reused by an orphan in between, that
// orphan is only collected a little later.
//
// waitid reports one zombie at a time, the first in the kernel's child
// list. If that is one of exec's, orphans behind it stay hidden until
// exec's Wait collects it, which it is about to do; the reaper looks again
// after blockedRetry.
type reaper struct {
	log *log.Logger

	mu      sync.Mutex
	tracked map[int]struct{}
}

var _ agent.ProcessStarter = (*reaper)(nil)

func newReaper(logger *log.Logger) *reaper {
	return &reaper{log: logger, tracked: make(map[int]struct{})}
}

// Start starts cmd and registers its pid before the reaper can look.
func (r *reaper) Start(_ context.Context, cmd *exec.Cmd) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.tracked[cmd.Process.Pid] = struct{}{}
	return nil
}

// Wait waits for cmd, which collects it, and then forgets its pid.
func (r *reaper) Wait(_ context.Context, cmd *exec.Cmd) error {
	err := cmd.Wait()
	r.mu.Lock()
	delete(r.tracked, cmd.Process.Pid)
	r.mu.Unlock()
	return err
}

// run reaps on every SIGCHLD until ctx ends.
func (r *reaper) run(ctx context.Context) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	defer signal.Stop(sigs)
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sigs:
		case <-retry.C:
		}
		if r.reapOrphans() {
			retry.Reset(blockedRetry)
		}
	}
}

// reapOrphans collects every exited child that is not exec's. It reports
// whether it stopped at one of exec's zombies.
func (r *reaper) reapOrphans() (blocked bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		pid, err := peekZombie()
		if err != nil {
			if !errors.Is(err, unix.ECHILD) {
				r.log.Printf("reaper: waitid: %v", err)
			}
			return false
		}
		if pid == 0 {
			return false
		}
		if _, ours := r.tracked[pid]; ours {
			return true
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil && !errors.Is(err, unix.EINTR) {
			r.log.Printf("reaper: wait4 %d: %v", pid, err)
			return false
		}
	}
}

// peekZombie returns the pid of an exited child without collecting it,
// or 0 if none has exited.
func peekZombie() (int, error) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		return siginfoPid(&info), nil
	}
}

// siginfoPid reads si_pid, which x/sys/unix does not expose. It is the
// first field of the union that follows si_signo, si_errno and si_code,
// and the union is aligned to the pointer size. The kernel zeroes it when
// WNOHANG finds nothing.
func siginfoPid(info *unix.Siginfo) int {
	const align = unsafe.Sizeof(uintptr(0))
	off := (3*unsafe.Sizeof(int32(0)) + align - 1) &^ (align - 1)
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), off)))
}
