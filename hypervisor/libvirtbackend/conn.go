package libvirtbackend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sirupsen/logrus"
	"libvirt.org/go/libvirt"

	"github.com/vmctl/vmctl/hypervisor"
)

// Connection defaults.
const (
	// DefaultKeepAliveInterval and DefaultKeepAliveCount are libvirt's own
	// remote defaults: a peer that answers nothing for about 30 s is dead.
	DefaultKeepAliveInterval = 5 * time.Second
	DefaultKeepAliveCount    = 5
	// Reconnect backoff: 100 ms doubling to at most 2 s, so a daemon that
	// comes back is reached within about 2 s of answering again.
	DefaultReconnectInitial = 100 * time.Millisecond
	DefaultReconnectMax     = 2 * time.Second
	// DefaultDialTimeout bounds one connection attempt. libvirt's open has
	// no timeout of its own: a remote daemon that accepts TCP but answers
	// nothing would hold it for ever.
	DefaultDialTimeout = 30 * time.Second
)

// Option configures a Backend.
type Option func(*Backend)

// WithKeepAlive sets libvirt's keepalive: a probe every interval, the
// connection declared dead after count unanswered probes. interval 0 turns
// keepalive off.
func WithKeepAlive(interval time.Duration, count int) Option {
	return func(b *Backend) { b.kaInterval, b.kaCount = interval, count }
}

// WithReconnectBackoff sets the first and the largest wait between
// reconnection attempts.
func WithReconnectBackoff(initial, maxWait time.Duration) Option {
	return func(b *Backend) { b.boInitial, b.boMax = initial, maxWait }
}

// WithDialTimeout bounds one connection attempt.
func WithDialTimeout(d time.Duration) Option { return func(b *Backend) { b.dialTimeout = d } }

// WithLogger receives reconnection events (default: discard).
func WithLogger(l logrus.FieldLogger) Option { return func(b *Backend) { b.log = l } }

// WithClock injects the clock behind reconnect backoff.
func WithClock(now func() time.Time, after func(time.Duration) <-chan time.Time) Option {
	return func(b *Backend) { b.now, b.after = now, after }
}

// withDialer replaces libvirt.NewConnect (tests).
func withDialer(d func(uri string) (*libvirt.Connect, error)) Option {
	return func(b *Backend) { b.dialFn = d }
}

// Backend is a libvirt host. It keeps one connection and replaces it when
// it dies: libvirt's close callback and keepalive say when, and the next
// call reconnects with capped exponential backoff bounded by its context.
// Calls that are safe to repeat are retried once on the fresh connection;
// the others first check what took effect. It is safe for concurrent use.
type Backend struct {
	uri         string
	kaInterval  time.Duration
	kaCount     int
	boInitial   time.Duration
	boMax       time.Duration
	dialTimeout time.Duration
	log         logrus.FieldLogger
	now         func() time.Time
	after       func(time.Duration) <-chan time.Time
	dialFn      func(uri string) (*libvirt.Connect, error)

	mu      sync.Mutex
	cur     *session
	gen     uint64
	pending *dialing
	raw     *rawDial
	bo      *backoff.ExponentialBackOff
	// notBefore is when the next attempt may start (backoff).
	notBefore time.Time
	lastErr   error
	downSince time.Time
	attempts  int
	closed    bool
	// life ends with Close; the background reconnection runs under it.
	life         context.Context
	endLife      context.CancelFunc
	reconnecting bool
}

// dialing is one connection attempt in flight; every caller that needs a
// connection meanwhile waits for it rather than starting another.
type dialing struct {
	done chan struct{}
}

var _ hypervisor.Backend = (*Backend)(nil)

// Open connects to a libvirt URI such as qemu:///system. The first
// connection must succeed; later ones are made as needed.
func Open(ctx context.Context, uri string, opts ...Option) (*Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := startEventLoop(); err != nil {
		return nil, err
	}
	b := &Backend{
		uri: uri, kaInterval: DefaultKeepAliveInterval, kaCount: DefaultKeepAliveCount,
		boInitial: DefaultReconnectInitial, boMax: DefaultReconnectMax, dialTimeout: DefaultDialTimeout,
		now: time.Now, after: time.After, dialFn: libvirt.NewConnect,
	}
	for _, o := range opts {
		o(b)
	}
	if b.log == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		b.log = l
	}
	b.life, b.endLife = context.WithCancel(context.Background())
	b.bo = &backoff.ExponentialBackOff{InitialInterval: b.boInitial, MaxInterval: b.boMax, Multiplier: 2, RandomizationFactor: 0.2}
	b.bo.Reset()
	b.mu.Lock()
	d := b.startDialLocked()
	b.mu.Unlock()
	select {
	case <-d.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("connect %s: %w: %w", uri, hypervisor.ErrUnreachable, ctx.Err())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur == nil {
		b.endLife()
		return nil, fmt.Errorf("connect %s: %w: %v (is libvirtd running? try scripts/setup-host.sh)", uri, hypervisor.ErrUnreachable, b.lastErr)
	}
	return b, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (b *Backend) URI() string { return b.uri }

// Close releases the connection. Streams still open keep it until they
// close.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.endLife()
	s := b.cur
	b.cur = nil
	b.mu.Unlock()
	if s != nil {
		s.retire()
	}
	return nil
}

// IsLocal reports whether the URI names this machine's libvirtd.
func IsLocal(uri string) bool { return hypervisor.IsLocalURI(uri) }

var errBackendClosed = errors.New("libvirt backend closed")

// acquire returns a live session, reconnecting if the current one died.
// The caller must call leave on it. It waits for at most ctx.
func (b *Backend) acquire(ctx context.Context) (*session, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, b.unreachable(ctx.Err())
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, fmt.Errorf("%s: %w", b.uri, errBackendClosed)
		}
		if s := b.cur; s != nil {
			if !s.isDead() {
				s.enter()
				b.mu.Unlock()
				return s, nil
			}
			b.dropLocked(s)
		}
		var wait <-chan struct{}
		var timer <-chan time.Time
		switch {
		case b.pending != nil:
			wait = b.pending.done
		case b.now().Before(b.notBefore):
			timer = b.after(b.notBefore.Sub(b.now()))
		default:
			wait = b.startDialLocked().done
		}
		b.mu.Unlock()
		select {
		case <-wait:
		case <-timer:
		case <-ctx.Done():
			return nil, b.unreachable(ctx.Err())
		}
	}
}

// unreachable wraps a context error with why the host could not be reached.
func (b *Backend) unreachable(cause error) error {
	b.mu.Lock()
	last := b.lastErr
	b.mu.Unlock()
	if last == nil {
		return fmt.Errorf("%s: %w", b.uri, cause)
	}
	return fmt.Errorf("%s: %w (waiting for libvirt to come back; last attempt: %v): %w", b.uri, hypervisor.ErrUnreachable, last, cause)
}

// dropLocked retires a dead session and starts the outage clock.
func (b *Backend) dropLocked(s *session) {
	if b.cur != s {
		return
	}
	b.cur = nil
	b.downSince = b.now()
	b.attempts = 0
	b.bo.Reset()
	b.notBefore = time.Time{}
	b.log.WithFields(logrus.Fields{"uri": b.uri, "reason": s.reason()}).Warn("libvirt connection lost; reconnecting")
	go s.retire()
	// Reconnect in the background too, so the connection is back within
	// one backoff step of libvirtd answering again even when no call is
	// waiting for it.
	if !b.reconnecting {
		b.reconnecting = true
		go func() {
			if s, err := b.acquire(b.life); err == nil {
				s.leave()
			}
			b.mu.Lock()
			b.reconnecting = false
			b.mu.Unlock()
		}()
	}
}

// markDead is called when a call found the connection dead before the
// close callback said so.
func (b *Backend) markDead(s *session, why string) {
	s.markDead(why)
	b.mu.Lock()
	b.dropLocked(s)
	b.mu.Unlock()
}

// startDialLocked starts one connection attempt in the background. The
// attempt outlives a caller whose ctx ends: its result is kept for the
// next caller, and there is never more than one in flight.
func (b *Backend) startDialLocked() *dialing {
	d := &dialing{done: make(chan struct{})}
	b.pending = d
	b.attempts++
	go func() {
		conn, err := b.dial()
		b.mu.Lock()
		defer b.mu.Unlock()
		defer close(d.done)
		b.pending = nil
		if err != nil {
			b.lastErr = err
			b.notBefore = b.now().Add(b.bo.NextBackOff())
			return
		}
		if b.closed {
			go conn.Close()
			return
		}
		b.gen++
		s := newSession(conn, b.gen)
		if err := conn.RegisterCloseCallback(func(_ *libvirt.Connect, reason libvirt.ConnectCloseReason) {
			// On the event loop's thread: wake the streams now, and
			// leave the backend's lock to a goroutine so the loop never
			// waits for it.
			s.markDead(closeReason(reason))
			go b.markDead(s, closeReason(reason))
		}); err != nil {
			b.log.WithError(err).Warn("no libvirt close callback; a dead connection is noticed by the next failing call")
		}
		if b.gen > 1 {
			b.log.WithFields(logrus.Fields{"uri": b.uri, "down": b.now().Sub(b.downSince).Round(time.Millisecond), "attempts": b.attempts}).Info("libvirt connection restored")
		}
		b.cur, b.lastErr, b.attempts = s, nil, 0
		b.bo.Reset()
	}()
	return d
}

// rawDial is one libvirt.NewConnect in flight. It can outlive the attempt
// that started it (libvirt's open has no timeout), so the next attempt
// waits for it instead of starting another: a host that hangs costs one
// goroutine, never one per attempt.
type rawDial struct {
	done    chan struct{}
	conn    *libvirt.Connect
	err     error
	waiting bool // an attempt is waiting for the result
	taken   bool
}

// dial returns a connection with keepalive set, waiting at most the dial
// timeout. Only one attempt runs at a time (startDialLocked), so a rawDial
// has at most one waiter.
func (b *Backend) dial() (*libvirt.Connect, error) {
	b.mu.Lock()
	r := b.raw
	if r == nil {
		r = &rawDial{done: make(chan struct{})}
		b.raw = r
		go b.runRawDial(r)
	}
	r.waiting = true
	b.mu.Unlock()
	select {
	case <-r.done:
	case <-b.after(b.dialTimeout):
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r.waiting = false
	select {
	case <-r.done:
	default:
		return nil, fmt.Errorf("no answer within %s", b.dialTimeout)
	}
	if r.err != nil || r.conn == nil {
		return nil, r.err
	}
	r.taken = true
	return r.conn, nil
}

func (b *Backend) runRawDial(r *rawDial) {
	conn, err := b.dialFn(b.uri)
	if err == nil && b.kaInterval > 0 {
		if kerr := conn.SetKeepAlive(int((b.kaInterval+time.Second-1)/time.Second), uint(b.kaCount)); kerr != nil && !isUnsupported(kerr) {
			conn.Close()
			conn, err = nil, fmt.Errorf("keepalive: %w", kerr)
		}
	}
	b.mu.Lock()
	r.conn, r.err = conn, err
	b.raw = nil
	abandoned := !r.waiting && conn != nil
	close(r.done)
	b.mu.Unlock()
	if abandoned {
		// Its attempt gave up; the next one starts afresh.
		conn.Close()
	}
}

// isUnsupported: drivers without keepalive (local in-process drivers such
// as test:///) refuse it; they have no peer that can die.
func isUnsupported(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && (lerr.Code == libvirt.ERR_NO_SUPPORT || lerr.Code == libvirt.ERR_ARGUMENT_UNSUPPORTED)
}

func closeReason(r libvirt.ConnectCloseReason) string {
	switch r {
	case libvirt.CONNECT_CLOSE_REASON_EOF:
		return "libvirtd closed the connection (restarted or stopped)"
	case libvirt.CONNECT_CLOSE_REASON_KEEPALIVE:
		return "keepalive timed out (host not answering)"
	case libvirt.CONNECT_CLOSE_REASON_ERROR:
		return "connection error"
	case libvirt.CONNECT_CLOSE_REASON_CLIENT:
		return "closed by this process"
	}
	return fmt.Sprintf("closed (reason %d)", r)
}
