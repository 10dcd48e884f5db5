package libvirtbackend

import (
	"fmt"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
)

// libvirt's default event loop runs on one goroutine for the life of the
// process. It is what makes keepalive, the close callback and nonblocking
// stream callbacks work: without it a dead remote host or a restarted
// libvirtd is noticed only by the next call that happens to fail.
var (
	loopOnce sync.Once
	loopErr  error
)

// startEventLoop registers libvirt's default event loop implementation and
// runs it. It must happen before the first connection is opened; later
// calls are no-ops.
func startEventLoop() error {
	loopOnce.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			loopErr = fmt.Errorf("register libvirt event loop: %w", err)
			return
		}
		go runEventLoop()
	})
	return loopErr
}

func runEventLoop() {
	for {
		if err := libvirt.EventRunDefaultImpl(); err != nil {
			// One iteration failed (poll error); the loop itself is
			// still registered. A short pause keeps a persistent failure
			// from spinning a core.
			time.Sleep(10 * time.Millisecond)
		}
	}
}
