package agent

import (
	"io"
	"time"
)

// minClientFrameSize keeps a lowered limit large enough for hello and for
// streamed output chunks.
const minClientFrameSize = 64 << 10

// DefaultHandshakeSkipLimit bounds how much stale or garbage input the
// handshake skips before giving up.
const DefaultHandshakeSkipLimit = 1 << 20

// ClientOption configures Connect and NewClient.
type ClientOption func(*clientConfig)

type clientConfig struct {
	timeouts  Timeouts
	maxFrame  int
	skipLimit int64
	rand      io.Reader
	now       func() time.Time
	after     func(time.Duration) <-chan time.Time
}

// WithTimeouts overrides DefaultTimeouts; zero fields keep the defaults.
func WithTimeouts(t Timeouts) ClientOption { return func(c *clientConfig) { c.timeouts = t } }

// WithClientMaxFrameSize lowers the largest frame the client accepts.
// It is raised to 64 KiB if lower and ignored above MaxFrameSize.
func WithClientMaxFrameSize(n int) ClientOption {
	return func(c *clientConfig) {
		if n > 0 && n <= MaxFrameSize {
			c.maxFrame = max(n, minClientFrameSize)
		}
	}
}

// WithHandshakeSkipLimit overrides DefaultHandshakeSkipLimit.
func WithHandshakeSkipLimit(n int64) ClientOption {
	return func(c *clientConfig) {
		if n > 0 {
			c.skipLimit = n
		}
	}
}

// WithClock injects the clock of the liveness check: now stamps what
// arrives from the guest and after paces the probes. Either may be nil
// for time.Now and time.After. Tests pass a fake that they advance.
func WithClock(now func() time.Time, after func(time.Duration) <-chan time.Time) ClientOption {
	return func(c *clientConfig) {
		if now != nil {
			c.now = now
		}
		if after != nil {
			c.after = after
		}
	}
}
