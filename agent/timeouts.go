package agent

import (
	"fmt"
	"time"
)

// Timeouts are the client's per-operation deadlines, applied when the
// caller's context has none sooner, and its liveness bounds. Zero fields
// take the defaults.
type Timeouts struct {
	// Handshake bounds dialing's hello exchange.
	Handshake time.Duration
	Ping      time.Duration
	Stats     time.Duration
	Mount     time.Duration
	Poweroff  time.Duration
	// Exec is the run time of a command whose request sets no Timeout.
	Exec time.Duration
	// ExecGrace is how much longer than the command's timeout the host
	// waits for the guest's answer.
	ExecGrace time.Duration
	// Heartbeat is how long the line may be quiet while a call is
	// pending before the client pings the guest. It must be shorter
	// than Unresponsive.
	Heartbeat time.Duration
	// Unresponsive is how long the guest may send nothing at all while a
	// call is pending before the connection fails with ErrUnresponsive.
	// A connection with no call pending is never failed for silence: a
	// paused guest keeps its connection for as long as it is paused.
	Unresponsive time.Duration
}

// DefaultTimeouts returns the timeouts used for zero fields.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Handshake:    10 * time.Second,
		Ping:         5 * time.Second,
		Stats:        10 * time.Second,
		Mount:        30 * time.Second,
		Poweroff:     10 * time.Second,
		Exec:         5 * time.Minute,
		ExecGrace:    5 * time.Second,
		Heartbeat:    time.Second,
		Unresponsive: 8 * time.Second,
	}
}

// Validate rejects negative timeouts, and a Heartbeat (after defaults)
// not shorter than Unresponsive.
func (t Timeouts) Validate() error {
	for name, d := range map[string]time.Duration{
		"handshake": t.Handshake, "ping": t.Ping, "stats": t.Stats, "mount": t.Mount,
		"poweroff": t.Poweroff, "exec": t.Exec, "exec grace": t.ExecGrace,
		"heartbeat": t.Heartbeat, "unresponsive": t.Unresponsive,
	} {
		if d < 0 {
			return fmt.Errorf("agent: %s timeout %v is negative", name, d)
		}
	}
	if d := t.withDefaults(); d.Heartbeat >= d.Unresponsive {
		return fmt.Errorf("agent: heartbeat %v is not shorter than unresponsive %v", d.Heartbeat, d.Unresponsive)
	}
	return nil
}

// withDefaults fills zero fields.
func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts()
	for _, f := range []struct{ dst, def *time.Duration }{
		{&t.Handshake, &d.Handshake}, {&t.Ping, &d.Ping}, {&t.Stats, &d.Stats}, {&t.Mount, &d.Mount},
		{&t.Poweroff, &d.Poweroff}, {&t.Exec, &d.Exec}, {&t.ExecGrace, &d.ExecGrace},
		{&t.Heartbeat, &d.Heartbeat}, {&t.Unresponsive, &d.Unresponsive},
	} {
		if *f.dst == 0 {
			*f.dst = *f.def
		}
	}
	return t
}
