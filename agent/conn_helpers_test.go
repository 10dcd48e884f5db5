package agent

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"testing"
	"time"
)

// servePipe connects a client to ServeConn(h) over net.Pipe.
func servePipe(t *testing.T, h Handler, sopts []ServerOption, copts ...ClientOption) *Client {
	t.Helper()
	host, guest := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeConn(ctx, guest, h, sopts...) }()
	c, err := NewClient(ctx, host, copts...)
	if err != nil {
		cancel()
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("ServeConn: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("ServeConn did not return after the client closed")
		}
	})
	return c
}

// fakeGuest plays a hostile or scripted agent on the far end of a pipe.
type fakeGuest struct {
	t    *testing.T
	conn net.Conn
	fr   *FrameReader
}

func (g *fakeGuest) next() *Envelope {
	g.t.Helper()
	_ = g.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := g.fr.ReadFrame()
	if err != nil {
		g.t.Errorf("fake guest: read: %v", err)
		return &Envelope{}
	}
	env, err := decodeEnvelope(p)
	if err != nil {
		g.t.Errorf("fake guest: decode: %v", err)
		return &Envelope{}
	}
	return env
}

// sendRaw writes bytes; a client that already hung up is not an error.
func (g *fakeGuest) sendRaw(b []byte) {
	_ = g.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = g.conn.Write(b)
}

func (g *fakeGuest) send(env *Envelope) {
	g.t.Helper()
	b, err := encodeFrame(env)
	if err != nil {
		g.t.Errorf("fake guest: encode: %v", err)
		return
	}
	g.sendRaw(b)
}

func (g *fakeGuest) reply(req *Envelope, body any) {
	g.t.Helper()
	raw, _ := json.Marshal(body)
	g.send(&Envelope{Type: TypeResponse, ID: req.ID, Op: req.Op, Body: raw})
}

func (g *fakeGuest) helloInfo(req *Envelope) *HelloInfo {
	g.t.Helper()
	var hello HelloRequest
	if err := json.Unmarshal(req.Body, &hello); err != nil || req.Op != OpHello {
		g.t.Errorf("fake guest: first request %q is not a hello: %v", req.Op, err)
	}
	return &HelloInfo{ProtocolVersion: ProtocolVersion, Nonce: hello.Nonce, AgentVersion: "fake"}
}

// drain reads and discards until the client goes away, for guests that
// stay connected without ever answering.
func (g *fakeGuest) drain() {
	_ = g.conn.SetReadDeadline(time.Time{})
	_, _ = io.Copy(io.Discard, g.conn)
}

// handshake answers the hello correctly.
func (g *fakeGuest) handshake() {
	req := g.next()
	g.reply(req, g.helloInfo(req))
}

// withFakeGuest runs script as the guest and returns NewClient's outcome.
// The script's goroutine is waited for at cleanup.
func withFakeGuest(t *testing.T, ctx context.Context, script func(g *fakeGuest), opts ...ClientOption) (*Client, error) {
	t.Helper()
	host, guest := net.Pipe()
	g := &fakeGuest{t: t, conn: guest, fr: NewFrameReader(guest)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer guest.Close()
		script(g)
	}()
	c, err := NewClient(ctx, host, opts...)
	t.Cleanup(func() {
		if c != nil {
			_ = c.Close()
		}
		_ = guest.Close()
		<-done
	})
	return c, err
}
