package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// zeroRand makes the nonce all zeros and the first request id 1, so fuzz
// inputs can contain frames that match.
type zeroRand struct{}

func (zeroRand) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func withRandom(r io.Reader) ClientOption { return func(c *clientConfig) { c.rand = r } }

const fuzzNonce = "00000000000000000000000000000000"

// scriptedGuest releases part k of its output once the client has written
// k+1 frames, then reports EOF when everything released is read.
type scriptedGuest struct {
	mu     sync.Mutex
	cond   *sync.Cond
	parts  [][]byte
	writes int
	next   int // index of the next part to hand out
	buf    []byte
	closed bool
}

func newScriptedGuest(parts [][]byte) *scriptedGuest {
	g := &scriptedGuest{parts: parts}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *scriptedGuest) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.buf) == 0 {
		switch {
		case g.closed:
			return 0, io.ErrClosedPipe
		case g.next == len(g.parts):
			return 0, io.EOF
		case g.next < g.writes:
			g.buf = g.parts[g.next]
			g.next++
		default:
			g.cond.Wait()
		}
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

func (g *scriptedGuest) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, io.ErrClosedPipe
	}
	g.writes++
	g.cond.Broadcast()
	return len(p), nil
}

func (g *scriptedGuest) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	g.cond.Broadcast()
	return nil
}

func (g *scriptedGuest) waitWrites(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.writes < n && !g.closed {
		g.cond.Wait()
	}
}

func fuzzFrame(f *testing.F, env *Envelope) []byte {
	b, err := encodeFrame(env)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func fuzzBody(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

const fuzzSeparator = "\n--\n"

// FuzzClientConn plays a hostile guest. The first byte picks a mode:
// even, the input is stale garbage in front of a valid hello; odd, a
// valid hello is followed by the input as replies (parts separated by
// fuzzSeparator, released one per request) to a ping, a stats and a
// streaming exec in flight together. The heartbeat is short, so its
// probes (ids from 5) go out too and, being writes, release parts. The
// client must never panic, hang, or hand the caller more output than the
// cap.
func FuzzClientConn(f *testing.F) {
	hello := fuzzFrame(f, &Envelope{Type: TypeResponse, ID: 1, Op: OpHello,
		Body: fuzzBody(HelloInfo{ProtocolVersion: ProtocolVersion, Nonce: fuzzNonce})})
	ping := fuzzFrame(f, &Envelope{Type: TypeResponse, ID: 2, Op: OpPing})
	stats := fuzzFrame(f, &Envelope{Type: TypeResponse, ID: 3, Op: OpStats,
		Body: fuzzBody(GuestStats{NumCPU: 1, Memory: MemoryStats{Total: 10}})})
	event := fuzzFrame(f, &Envelope{Type: TypeEvent, ID: 4, Op: OpExec,
		Body: fuzzBody(ExecEvent{Stream: StreamStdout, Data: bytes.Repeat([]byte("o"), 100)})})
	result := fuzzFrame(f, &Envelope{Type: TypeResponse, ID: 4, Op: OpExec, Body: fuzzBody(ExecResult{ExitCode: 1})})
	sep := []byte(fuzzSeparator)

	f.Add(concat([]byte{0}, []byte("stale garbage"), frame(f, `{"type":"response","id":1,"op":"hello","body":{"nonce":"x"}}`)))
	f.Add(concat([]byte{0}, header(MaxFrameSize+1)))
	f.Add(concat([]byte{1}, ping, sep, stats, sep, event, result))
	f.Add(concat([]byte{1}, result, ping, sep, sep, stats))
	f.Add(concat([]byte{1}, ping, sep, header(0xFFFFFFFF)))
	f.Add(concat([]byte{1}, frame(f, `{"type":"event","id":4,"op":"exec","body":{"stream":"stdout","data":"AAAA"}}`), sep, sep, result))
	f.Add(concat([]byte{1}, ping, sep, stats, sep, event, frame(f, `{"type":"response","id":5,"op":"ping"}`), sep, result))

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		mode, data := data[0], data[1:]
		var parts [][]byte
		if mode%2 == 0 {
			parts = [][]byte{concat(data, hello)}
		} else {
			parts = append([][]byte{hello}, bytes.SplitN(data, sep, 3)...)
		}
		g := newScriptedGuest(parts)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		began := time.Now()
		defer func() {
			if took := time.Since(began); took > 2500*time.Millisecond {
				t.Fatalf("client took %v", took)
			}
		}()
		c, err := NewClient(ctx, g, withRandom(zeroRand{}),
			WithTimeouts(Timeouts{Handshake: time.Second, Ping: time.Second, Stats: time.Second, Exec: time.Second, ExecGrace: 100 * time.Millisecond,
				Heartbeat: 100 * time.Millisecond, Unresponsive: 500 * time.Millisecond}))
		if err != nil {
			return
		}
		defer c.Close()
		if mode%2 == 0 {
			_ = c.Ping(ctx)
			return
		}
		// Start the calls one after another so their ids are 2, 3 and 4,
		// but keep them all in flight: each reply part is released by
		// the next request.
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); _ = c.Ping(ctx) }()
		g.waitWrites(2)
		go func() { defer wg.Done(); _, _ = c.Stats(ctx) }()
		g.waitWrites(3)
		var out strings.Builder
		go func() {
			defer wg.Done()
			res, err := c.Exec(ctx, &ExecRequest{Argv: []string{"x"}, MaxOutput: 64}, &out, nil)
			if err == nil && (len(res.Stdout) != 0 || res.ExitCode < -1 || res.ExitCode > 255) {
				t.Errorf("accepted invalid result %+v", res)
			}
		}()
		wg.Wait()
		if out.Len() > 64 {
			t.Fatalf("wrote %d bytes of stdout, cap 64", out.Len())
		}
	})
}

// TestScriptedGuest checks that FuzzClientConn's harness reaches the calls
// it means to: with well-formed replies, all three succeed.
func TestScriptedGuest(t *testing.T) {
	frameOf := func(env *Envelope) []byte {
		b, err := encodeFrame(env)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	g := newScriptedGuest([][]byte{
		frameOf(&Envelope{Type: TypeResponse, ID: 1, Op: OpHello, Body: fuzzBody(HelloInfo{ProtocolVersion: ProtocolVersion, Nonce: fuzzNonce})}),
		frameOf(&Envelope{Type: TypeResponse, ID: 2, Op: OpPing}),
		frameOf(&Envelope{Type: TypeResponse, ID: 3, Op: OpStats, Body: fuzzBody(GuestStats{NumCPU: 3})}),
		concat(
			frameOf(&Envelope{Type: TypeEvent, ID: 4, Op: OpExec, Body: fuzzBody(ExecEvent{Stream: StreamStdout, Data: bytes.Repeat([]byte("o"), 100)})}),
			frameOf(&Envelope{Type: TypeResponse, ID: 4, Op: OpExec, Body: fuzzBody(ExecResult{ExitCode: 1})}),
		),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := NewClient(ctx, g, withRandom(zeroRand{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := c.Ping(ctx); err != nil {
			t.Errorf("ping: %v", err)
		}
	}()
	g.waitWrites(2)
	go func() {
		defer wg.Done()
		if st, err := c.Stats(ctx); err != nil || st.NumCPU != 3 {
			t.Errorf("stats: %+v, %v", st, err)
		}
	}()
	g.waitWrites(3)
	var out bytes.Buffer
	go func() {
		defer wg.Done()
		res, err := c.Exec(ctx, &ExecRequest{Argv: []string{"x"}, MaxOutput: 64}, &out, nil)
		if err != nil || res.ExitCode != 1 || !res.StdoutTruncated {
			t.Errorf("exec: %+v, %v", res, err)
		}
	}()
	wg.Wait()
	if out.Len() != 64 {
		t.Errorf("stdout %d bytes, want the 64 byte cap", out.Len())
	}
}
