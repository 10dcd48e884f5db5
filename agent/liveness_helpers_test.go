package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test advances by hand. Timers from After fire
// only in Advance, so the heartbeat runs exactly when the test says.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	changed chan struct{} // closed and replaced whenever timers change
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), changed: make(chan struct{})}
}

// option makes the client use the fake clock.
func (f *fakeClock) option() ClientOption { return WithClock(f.Now, f.After) }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.timers = append(f.timers, fakeTimer{at: f.now.Add(d), ch: ch})
	f.notify()
	return ch
}

// Advance moves the clock on and fires the timers that are due.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.timers[:0]
	for _, tm := range f.timers {
		if tm.at.After(f.now) {
			kept = append(kept, tm)
			continue
		}
		tm.ch <- f.now
	}
	f.timers = kept
	f.notify()
}

func (f *fakeClock) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeClock) armed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// waitBeat waits until c's heartbeat has finished its last check and
// armed a timer for the next, failing at once if c's connection ended.
func (f *fakeClock) waitBeat(t *testing.T, c *Client) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		got, changed := len(f.timers), f.changed
		f.mu.Unlock()
		if got == 1 {
			return
		}
		select {
		case <-changed:
		case <-c.Done():
			t.Fatalf("connection ended: %v", c.Err())
		case <-deadline:
			t.Fatalf("fake clock: %d timers armed, want the heartbeat's one", got)
		}
	}
}

// pingMode is how a livenessGuest treats pings.
type pingMode int

const (
	answerPings pingMode = iota // reply to every ping
	ignorePings                 // read pings, never reply
	readNothing                 // read nothing at all after the hello
)

// livenessGuest is a fake guest that, after the hello, reads every
// request: pings are counted and answered or not as its mode says,
// anything else goes to the test on reqs. The test writes events and
// responses with its fakeGuest methods.
type livenessGuest struct {
	*fakeGuest
	mode  pingMode
	pings atomic.Int32
	reqs  chan *Envelope
	quit  chan struct{}
}

// startLivenessGuest connects a client to a livenessGuest over net.Pipe.
func startLivenessGuest(t *testing.T, mode pingMode, opts ...ClientOption) (*Client, *livenessGuest) {
	t.Helper()
	host, guest := net.Pipe()
	g := &livenessGuest{
		fakeGuest: &fakeGuest{t: t, conn: guest, fr: NewFrameReader(guest)},
		mode:      mode,
		reqs:      make(chan *Envelope, 16),
		quit:      make(chan struct{}),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer guest.Close()
		g.handshake()
		g.serve()
	}()
	c, err := NewClient(context.Background(), host, opts...)
	t.Cleanup(func() {
		if c != nil {
			_ = c.Close()
		}
		close(g.quit)
		_ = guest.Close()
		<-done
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c, g
}

func (g *livenessGuest) serve() {
	if g.mode == readNothing {
		<-g.quit
		return
	}
	_ = g.conn.SetReadDeadline(time.Time{})
	for {
		p, err := g.fr.ReadFrame()
		if err != nil {
			return // the client went away
		}
		env, err := decodeEnvelope(p)
		if err != nil {
			g.t.Errorf("fake guest: decode: %v", err)
			return
		}
		if env.Op == OpPing {
			g.pings.Add(1)
			if g.mode == answerPings {
				g.reply(env, nil)
			}
			continue
		}
		select {
		case g.reqs <- env:
		default:
			g.t.Errorf("fake guest: unexpected %s request %d", env.Op, env.ID)
		}
	}
}

// request waits for the next request other than a ping.
func (g *livenessGuest) request(t *testing.T) *Envelope {
	t.Helper()
	select {
	case env := <-g.reqs:
		return env
	case <-time.After(5 * time.Second):
		t.Fatal("fake guest: no request arrived")
		return nil
	}
}

// output sends one streamed chunk of req's stdout.
func (g *livenessGuest) output(req *Envelope, data string) {
	g.t.Helper()
	body, _ := json.Marshal(ExecEvent{Stream: StreamStdout, Data: []byte(data)})
	g.send(&Envelope{Type: TypeEvent, ID: req.ID, Op: req.Op, Body: body})
}

// waitPings waits until the guest has read n pings.
func (g *livenessGuest) waitPings(t *testing.T, n int32) {
	t.Helper()
	waitFor(t, func() bool { return g.pings.Load() >= n }, "the guest to read %d pings (read %d)", n, g.pings.Load())
}

// waitProbeAnswered waits until the client has the answer to its probe,
// if one is out.
func waitProbeAnswered(t *testing.T, c *Client) {
	t.Helper()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.probe.outstanding
	}, "the probe's answer")
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool, what string, args ...any) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+what, args...)
		}
		time.Sleep(time.Millisecond)
	}
}

type execOutcome struct {
	res *ExecResult
	err error
}

// startExec runs c.Exec in the background; stdout nil means buffered.
func startExec(c *Client, req *ExecRequest, stdout io.Writer) <-chan execOutcome {
	out := make(chan execOutcome, 1)
	go func() {
		var o execOutcome
		if stdout != nil {
			o.res, o.err = c.Exec(context.Background(), req, stdout, nil)
		} else {
			o.res, o.err = c.Exec(context.Background(), req, nil, nil)
		}
		out <- o
	}()
	return out
}

// awaitExec waits for a started exec to return.
func awaitExec(t *testing.T, out <-chan execOutcome) execOutcome {
	t.Helper()
	select {
	case o := <-out:
		return o
	case <-time.After(5 * time.Second):
		t.Fatal("exec did not return")
		return execOutcome{}
	}
}

// notifyWriter reports every write on got.
type notifyWriter struct {
	mu  sync.Mutex
	buf strings.Builder
	got chan struct{}
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	w.got <- struct{}{}
	return len(p), nil
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// clientGoroutines counts goroutines running a Client method.
func clientGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "agent.(*Client).") {
			count++
		}
	}
	return count
}

// isUnresponsive checks err is the liveness failure and names the silence.
func isUnresponsive(t *testing.T, err error, silence string) {
	t.Helper()
	if !errors.Is(err, ErrUnresponsive) || !errors.Is(err, ErrClosed) {
		t.Fatalf("error = %v, want ErrUnresponsive and ErrClosed", err)
	}
	if silence != "" && !strings.Contains(err.Error(), "silent for "+silence) {
		t.Errorf("error %q does not say it was silent for %s", err, silence)
	}
}
