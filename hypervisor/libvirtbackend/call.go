package libvirtbackend

import (
	"context"
	"fmt"

	"libvirt.org/go/libvirt"

	"github.com/vmctl/vmctl/hypervisor"
)

// retry says whether a call may run again on a fresh connection after its
// connection died under it.
type retry bool

const (
	// idempotent calls (lookup, list, info, destroy, undefine, stats) run
	// once more on a fresh connection.
	idempotent retry = true
	// once calls (define, start) return hypervisor.ErrConnectionLost; the
	// caller checks what took effect before trying again.
	once retry = false
)

// do runs fn on a live connection, reconnecting first if needed, and
// returns when fn does or ctx ends. libvirt calls take no context, so fn
// runs on its own goroutine: a call stuck on a hung host is left to
// finish (keepalive ends it within about 30 s) while the caller goes on.
// fn must do all its libvirt work, Free included, before it returns.
func (b *Backend) do(ctx context.Context, r retry, fn func(*libvirt.Connect) error) error {
	for attempt := 1; ; attempt++ {
		s, err := b.acquire(ctx)
		if err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() {
			defer s.leave()
			done <- fn(s.conn)
		}()
		select {
		case err = <-done:
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", b.uri, ctx.Err())
		}
		if err == nil {
			return nil
		}
		if !isConnectionError(err) && s.alive() {
			return err
		}
		why := s.reason()
		if why == "" {
			why = err.Error()
		}
		b.markDead(s, why)
		if r == once || attempt > 1 {
			return fmt.Errorf("%w (%s): %w", hypervisor.ErrConnectionLost, b.uri, err)
		}
		b.log.WithError(err).WithField("uri", b.uri).Info("libvirt call failed on a dead connection; retrying on a fresh one")
	}
}
