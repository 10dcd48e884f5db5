package agent

import "io"

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
