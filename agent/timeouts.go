package agent

import (
	"fmt"
	"time"
)

// Timeouts are the client's per-operation deadlines, applied when the
// caller's context has none sooner. Zero fields take the defaults.
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
}

// DefaultTimeouts returns the timeouts used for zero fields.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Handshake: 10 * time.Second,
		Ping:      5 * time.Second,
		Stats:     10 * time.Second,
		Mount:     30 * time.Second,
		Poweroff:  10 * time.Second,
		Exec:      5 * time.Minute,
		ExecGrace: 5 * time.Second,
	}
}

// Validate rejects negative timeouts.
func (t Timeouts) Validate() error {
	for name, d := range map[string]time.Duration{
		"handshake": t.Handshake, "ping": t.Ping, "stats": t.Stats, "mount": t.Mount,
		"poweroff": t.Poweroff, "exec": t.Exec, "exec grace": t.ExecGrace,
	} {
		if d < 0 {
			return fmt.Errorf("agent: %s timeout %v is negative", name, d)
		}
	}
	return nil
}

// withDefaults fills zero fields.
func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts()
	for _, f := range []struct{ dst, def *time.Duration }{
		{&t.Handshake, &d.Handshake}, {&t.Ping, &d.Ping}, {&t.Stats, &d.Stats}, {&t.Mount, &d.Mount},
		{&t.Poweroff, &d.Poweroff}, {&t.Exec, &d.Exec}, {&t.ExecGrace, &d.ExecGrace},
	} {
		if *f.dst == 0 {
			*f.dst = *f.def
		}
	}
	return t
}
