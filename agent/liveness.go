package agent

import (
	"fmt"
	"time"
)

// Liveness. A stopped QEMU or a hung guest leaves the stream open (QEMU's
// socket takes writes until its buffer fills), so only silence tells.
// While at least one call is pending the heartbeat goroutine watches how
// long the guest has sent nothing: after Heartbeat it pings, one probe
// outstanding at a time, and after Unresponsive it fails the connection
// with ErrUnresponsive, which every pending call returns. Any byte from
// the guest counts as life (responses, events, output, the probe's
// answer), so neither a guest streaming output nor a long exec on a guest
// that answers pings is cut off. With no call pending nothing is sent and
// silence is never an error: warm-pool guests sit paused for hours with
// their connection open.

// probeState is the heartbeat's ping in flight. Client.mu guards it.
type probeState struct {
	id          uint64
	outstanding bool
	sentAt      time.Duration
}

// answered ends the probe if id is its id.
func (p *probeState) answered(id uint64) {
	if p.outstanding && p.id == id {
		p.outstanding = false
	}
}

// rxStamp is the reader's view of the stream; it notes when bytes arrive.
type rxStamp struct{ c *Client }

func (r rxStamp) Read(p []byte) (int, error) {
	n, err := r.c.rwc.Read(p)
	if n > 0 {
		r.c.lastRx.Store(int64(r.c.elapsed()))
	}
	return n, err
}

// elapsed is the time since the client was made, on its clock.
func (c *Client) elapsed() time.Duration { return c.cfg.now().Sub(c.born) }

// becameActive restarts the quiet clock for a call starting on an idle
// connection, and wakes the heartbeat. c.mu is held.
func (c *Client) becameActive() {
	c.activeSince = c.elapsed()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// heartbeat runs from the handshake until the connection ends: every
// Heartbeat while calls are pending, otherwise when one starts.
func (c *Client) heartbeat() {
	for {
		idle, err := c.checkLiveness()
		if err != nil {
			c.fail(err)
			return
		}
		wake, tick := c.wake, (<-chan time.Time)(nil)
		if !idle {
			wake, tick = nil, c.cfg.after(c.cfg.timeouts.Heartbeat)
		}
		select {
		case <-wake:
		case <-tick:
		case <-c.done:
			return
		}
	}
}

// checkLiveness pings a quiet line and returns ErrUnresponsive for a
// silent one. idle means no call is pending, so there is nothing to check.
func (c *Client) checkLiveness() (idle bool, err error) {
	t := c.cfg.timeouts
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.pending)
	if n == 0 {
		return true, nil
	}
	now := c.elapsed()
	quiet := now - max(time.Duration(c.lastRx.Load()), c.activeSince)
	switch {
	case !c.probe.outstanding && quiet >= t.Heartbeat:
		c.sendProbe(now)
	// The probe's own age gives a probe sent late (this goroutine was
	// starved, say) the time to be answered that a timely one has.
	case c.probe.outstanding && quiet >= t.Unresponsive && now-c.probe.sentAt >= t.Unresponsive-t.Heartbeat:
		return false, fmt.Errorf("agent: %w: silent for %v with %d pending call(s): %w",
			ErrUnresponsive, quiet.Round(time.Millisecond), n, ErrClosed)
	}
	return false, nil
}

// sendProbe queues a ping for the writer, replacing one it has not
// written yet. The probe is not a pending call: its answer matters only
// as something received. c.mu is held.
func (c *Client) sendProbe(now time.Duration) {
	id := c.nextID
	c.nextID++
	c.probe = probeState{id: id, outstanding: true, sentAt: now}
	frame, err := encodeFrame(&Envelope{Type: TypeRequest, ID: id, Op: OpPing, TimeoutMS: c.cfg.timeouts.Unresponsive.Milliseconds()})
	if err != nil {
		return // a ping always encodes; the silence check goes on regardless
	}
	select {
	case <-c.probeq:
	default:
	}
	// This goroutine is the only sender and the buffer is now empty.
	c.probeq <- frame
}
