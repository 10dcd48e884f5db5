package agent

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DialFunc opens a fresh byte stream to the guest agent, for example by
// connecting to the unix socket QEMU serves for the virtio port.
type DialFunc func(ctx context.Context) (io.ReadWriteCloser, error)

// maxRemoteMessage bounds the error text kept from the guest.
const maxRemoteMessage = 1024

// Client is a connection to a guest agent. Its methods may be called
// concurrently; requests are multiplexed and answered out of order.
// The guest is not trusted: frames are size-capped, replies validated and
// every call ends by its context's deadline or the operation's timeout.
// While calls are pending a stopped or hung guest is also told by its
// silence: the client pings a quiet line, and once the guest has sent
// nothing for Timeouts.Unresponsive every call fails with ErrUnresponsive.
type Client struct {
	rwc   io.ReadWriteCloser
	cfg   clientConfig
	hello HelloInfo

	writeq chan writeReq
	// probeq holds the heartbeat's ping frame for the writer (buffer 1).
	probeq chan []byte

	// born is the zero of the liveness stamps, which are durations since
	// it (monotonic with the real clock).
	born time.Time
	// lastRx is when bytes last arrived from the guest.
	lastRx atomic.Int64
	// wake tells the heartbeat that a call started on an idle connection
	// (buffer 1).
	wake chan struct{}

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*call
	// activeSince is when the pending calls went from none to some: the
	// quiet before it, however long, is not the guest's fault.
	activeSince time.Duration
	probe       probeState

	closeOnce sync.Once
	closeErr  error
	failOnce  sync.Once
	err       error // written once, before done is closed
	done      chan struct{}
}

type writeReq struct {
	frame []byte
	done  chan error
}

// call is one request awaiting its response.
type call struct {
	op     string
	result chan callResult // buffered; receives exactly one value
	// onEvent, when set, handles events for this id on the reader
	// goroutine; it must not block.
	onEvent func(*Envelope) error
	notify  chan struct{}
}

type callResult struct {
	env *Envelope
	err error
}

// Connect dials and performs the handshake. On failure the stream is closed.
func Connect(ctx context.Context, dial DialFunc, opts ...ClientOption) (*Client, error) {
	rwc, err := dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("agent: dial: %w", err)
	}
	return NewClient(ctx, rwc, opts...)
}

// NewClient performs the handshake over an open stream and takes
// ownership of it: on failure, and on Close, it is closed.
func NewClient(ctx context.Context, rwc io.ReadWriteCloser, opts ...ClientOption) (*Client, error) {
	cfg := clientConfig{maxFrame: MaxFrameSize, skipLimit: DefaultHandshakeSkipLimit, rand: rand.Reader,
		now: time.Now, after: time.After}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.timeouts.Validate(); err != nil {
		_ = rwc.Close()
		return nil, err
	}
	cfg.timeouts = cfg.timeouts.withDefaults()
	var seed [4 + 16]byte
	if _, err := io.ReadFull(cfg.rand, seed[:]); err != nil {
		_ = rwc.Close()
		return nil, fmt.Errorf("agent: handshake: random: %w", err)
	}
	c := &Client{
		rwc:    rwc,
		cfg:    cfg,
		writeq: make(chan writeReq),
		probeq: make(chan []byte, 1),
		born:   cfg.now(),
		wake:   make(chan struct{}, 1),
		// A random first id keeps stale responses from a previous
		// connection from matching requests on this one.
		nextID:  uint64(binary.BigEndian.Uint32(seed[:4])>>1) + 1,
		pending: make(map[uint64]*call),
		done:    make(chan struct{}),
	}
	nonce := hex.EncodeToString(seed[4:])
	if err := c.handshake(ctx, nonce); err != nil {
		c.fail(err)
		return nil, err
	}
	go c.heartbeat()
	return c, nil
}

// Hello returns what the guest said in the handshake.
func (c *Client) Hello() HelloInfo { return c.hello }

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns the connection's terminal error, or nil while it is up.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close closes the connection; pending calls fail with ErrClosed.
func (c *Client) Close() error {
	c.fail(fmt.Errorf("agent: client closed: %w", ErrClosed))
	return c.closeErr
}

// fail ends the connection with err unless it already ended.
func (c *Client) fail(err error) {
	c.failOnce.Do(func() {
		c.err = err
		close(c.done)
		c.closeOnce.Do(func() { c.closeErr = c.rwc.Close() })
	})
}

func (c *Client) writeLoop() {
	for {
		select {
		case w := <-c.writeq:
			_, err := c.rwc.Write(w.frame)
			w.done <- err
			if err != nil {
				c.fail(fmt.Errorf("agent: write: %w: %w", ErrClosed, err))
				return
			}
		case frame := <-c.probeq:
			if _, err := c.rwc.Write(frame); err != nil {
				c.fail(fmt.Errorf("agent: write: %w: %w", ErrClosed, err))
				return
			}
		case <-c.done:
			return
		}
	}
}

// send queues env for the writer and waits until it is written. If ctx
// ends first the frame is still written whole, later, so the stream
// stays in sync; only the caller stops waiting.
func (c *Client) send(ctx context.Context, env *Envelope) error {
	frame, err := encodeFrame(env)
	if err != nil {
		return err
	}
	w := writeReq{frame: frame, done: make(chan error, 1)}
	select {
	case c.writeq <- w:
	case <-ctx.Done():
		return fmt.Errorf("agent: %s: send: %w", env.Op, ctx.Err())
	case <-c.done:
		return c.err
	}
	select {
	case err := <-w.done:
		return sendResult(env, err)
	case <-ctx.Done():
		return fmt.Errorf("agent: %s: send: %w", env.Op, ctx.Err())
	case <-c.done:
		// The writer always reports, and promptly now that the stream is
		// closed. If the frame went out, the reply may already be waiting.
		select {
		case err := <-w.done:
			if err != nil {
				return c.err
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("agent: %s: send: %w", env.Op, ctx.Err())
		}
	}
}

func sendResult(env *Envelope, err error) error {
	if err != nil {
		return fmt.Errorf("agent: %s: send: %w", env.Op, err)
	}
	return nil
}

// register allocates an id for a new call.
func (c *Client) register(op string, onEvent func(*Envelope) error) (uint64, *call) {
	cl := &call{op: op, result: make(chan callResult, 1), onEvent: onEvent}
	if onEvent != nil {
		cl.notify = make(chan struct{}, 1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		c.becameActive()
	}
	id := c.nextID
	c.nextID++
	c.pending[id] = cl
	return id, cl
}

func (c *Client) unregister(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, id)
}

// finish delivers the one result of call id, if it is still pending.
func (c *Client) finish(id uint64, r callResult) {
	c.mu.Lock()
	cl := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if cl != nil {
		cl.result <- r
	}
}

// start sends a request and returns the call to await. timeout is sent as
// the request's timeout_ms.
func (c *Client) start(ctx context.Context, op string, timeout time.Duration, body any, onEvent func(*Envelope) error) (uint64, *call, error) {
	raw, err := marshalBody(body)
	if err != nil {
		return 0, nil, err
	}
	id, cl := c.register(op, onEvent)
	ms := int64((timeout + time.Millisecond - 1) / time.Millisecond)
	if err := c.send(ctx, &Envelope{Type: TypeRequest, ID: id, Op: op, TimeoutMS: ms, Body: raw}); err != nil {
		c.unregister(id)
		return 0, nil, err
	}
	return id, cl, nil
}

// await waits for the response of cl. drain, if set, runs whenever the
// call is notified of events and once more before the result is returned.
func (c *Client) await(ctx context.Context, id uint64, cl *call, drain func() error) (*Envelope, error) {
	defer c.unregister(id)
	for {
		select {
		case r := <-cl.result:
			return c.complete(cl, r, drain)
		case <-cl.notify:
			if err := drain(); err != nil {
				return nil, err
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("agent: %s: %w", cl.op, ctx.Err())
		case <-c.done:
			// A response that arrived just before the end still counts.
			select {
			case r := <-cl.result:
				return c.complete(cl, r, drain)
			default:
				return nil, c.err
			}
		}
	}
}

func (c *Client) complete(cl *call, r callResult, drain func() error) (*Envelope, error) {
	if r.err != nil {
		return nil, r.err
	}
	if drain != nil {
		if err := drain(); err != nil {
			return nil, err
		}
	}
	if r.env.Error != nil {
		return r.env, &RemoteError{Op: cl.op, Code: clip(r.env.Error.Code, 64), Message: clip(r.env.Error.Message, maxRemoteMessage)}
	}
	return r.env, nil
}

// call is start plus await for operations without events; timeout is the
// operation's named default, cut short by ctx's own deadline.
func (c *Client) call(ctx context.Context, op string, timeout time.Duration, body any) (*Envelope, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	id, cl, err := c.start(ctx, op, remaining(ctx), body, nil)
	if err != nil {
		return nil, err
	}
	return c.await(ctx, id, cl, nil)
}

// remaining is the time left before ctx's deadline, at least 1 ms so the
// guest never reads it as "no timeout".
func remaining(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(dl), time.Millisecond)
}

// clip makes guest-supplied text safe to log: valid UTF-8, bounded.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}
