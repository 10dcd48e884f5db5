package scheduler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockName is the lock file inside the claims directory.
const lockName = ".lock"

// lockFile takes an exclusive flock on path. flock blocks without a
// context, so it is tried non-blocking and retried on a ticker until ctx
// ends. flock locks belong to the open file description, so two
// goroutines of one process exclude each other just as two processes do,
// and the kernel drops the lock of a process that dies.
func lockFile(ctx context.Context, path string, poll time.Duration) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wait for lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	try := func() (bool, error) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK), errors.Is(err, unix.EINTR):
			return false, nil
		}
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	unlock = func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}
	ok, err := try()
	if err != nil {
		f.Close()
		return nil, err
	}
	if ok {
		return unlock, nil
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
		case <-t.C:
			ok, err := try()
			if err != nil {
				f.Close()
				return nil, err
			}
			if ok {
				return unlock, nil
			}
		}
	}
}
