package agent

import "time"

// Logger is what the server logs through; *log.Logger and logrus both fit.
type Logger interface {
	Printf(format string, args ...any)
}

// Server defaults.
const (
	// DefaultMaxRequestTimeout bounds every request; a host asking for
	// more (or for nothing) gets this.
	DefaultMaxRequestTimeout = time.Hour
	// DefaultMaxInflight bounds concurrent requests per connection;
	// reading pauses when it is reached.
	DefaultMaxInflight = 64
)

// ServerOption configures Serve and ServeConn.
type ServerOption func(*serverConfig)

type serverConfig struct {
	log         Logger
	maxFrame    int
	maxTimeout  time.Duration
	maxInflight int
}

// WithLogger sets where the server reports dropped input and failures.
func WithLogger(l Logger) ServerOption { return func(c *serverConfig) { c.log = l } }

// WithServerMaxFrameSize lowers the largest request the server reads.
func WithServerMaxFrameSize(n int) ServerOption { return func(c *serverConfig) { c.maxFrame = n } }

// WithMaxRequestTimeout overrides DefaultMaxRequestTimeout.
func WithMaxRequestTimeout(d time.Duration) ServerOption {
	return func(c *serverConfig) {
		if d > 0 {
			c.maxTimeout = d
		}
	}
}

// WithMaxInflight overrides DefaultMaxInflight.
func WithMaxInflight(n int) ServerOption {
	return func(c *serverConfig) {
		if n > 0 {
			c.maxInflight = n
		}
	}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

func newServerConfig(opts []ServerOption) *serverConfig {
	c := &serverConfig{log: discardLogger{}, maxFrame: MaxFrameSize, maxTimeout: DefaultMaxRequestTimeout, maxInflight: DefaultMaxInflight}
	for _, o := range opts {
		o(c)
	}
	return c
}
