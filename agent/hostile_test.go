package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestHostileGuestTerminal covers guest output that must end the whole
// connection, failing the pending call with the reason.
func TestHostileGuestTerminal(t *testing.T) {
	tests := []struct {
		name string
		send func(g *fakeGuest, req *Envelope)
		want error
	}{
		{
			name: "oversize frame",
			send: func(g *fakeGuest, _ *Envelope) { g.sendRaw(concat(header(0xFFFFFFFF), []byte("{}"))) },
			want: ErrFrameTooLarge,
		},
		{
			name: "garbage",
			send: func(g *fakeGuest, _ *Envelope) { g.sendRaw([]byte("this is not a frame")) },
			want: ErrBadMagic,
		},
		{
			name: "malformed json",
			send: func(g *fakeGuest, _ *Envelope) { g.sendRaw(frame(t, `{"type":"response","id":`)) },
			want: ErrMalformed,
		},
		{
			name: "unknown message type",
			send: func(g *fakeGuest, req *Envelope) { g.sendRaw(frame(t, `{"type":"surprise","id":1}`)) },
			want: ErrMalformed,
		},
		{
			name: "disconnect mid-frame",
			send: func(g *fakeGuest, _ *Envelope) { g.sendRaw(frame(t, `{"type":"response"}`)[:12]); _ = g.conn.Close() },
			want: ErrClosed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := withFakeGuest(t, context.Background(), func(g *fakeGuest) {
				g.handshake()
				tt.send(g, g.next())
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = c.Ping(ctx)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ping error = %v, want %v", err, tt.want)
			}
			select {
			case <-c.Done():
			case <-time.After(time.Second):
				t.Fatal("connection not ended")
			}
			if !errors.Is(c.Err(), tt.want) {
				t.Errorf("Err() = %v, want %v", c.Err(), tt.want)
			}
		})
	}
}

func TestOversizeFrameMessage(t *testing.T) {
	c, err := withFakeGuest(t, context.Background(), func(g *fakeGuest) {
		g.handshake()
		g.next()
		g.sendRaw(header(0xFFFFFFFF))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Ping(context.Background())
	want := "agent: frame of 4294967295 bytes exceeds limit 8388608: frame too large"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

// TestHostileGuestPerCall covers replies that are wrong but leave the
// stream intact: the call fails, the connection survives.
func TestHostileGuestPerCall(t *testing.T) {
	tests := []struct {
		name  string
		call  func(ctx context.Context, c *Client) error
		reply func(g *fakeGuest, req *Envelope)
		want  error
	}{
		{
			name: "impossible exit code",
			call: execCall(&ExecRequest{Argv: []string{"x"}}),
			reply: func(g *fakeGuest, req *Envelope) {
				g.reply(req, ExecResult{ExitCode: 999})
			},
			want: ErrProtocol,
		},
		{
			name: "output over the cap",
			call: execCall(&ExecRequest{Argv: []string{"x"}, MaxOutput: 10}),
			reply: func(g *fakeGuest, req *Envelope) {
				g.reply(req, ExecResult{Stdout: bytes.Repeat([]byte("a"), 11)})
			},
			want: ErrProtocol,
		},
		{
			name: "negative duration",
			call: execCall(&ExecRequest{Argv: []string{"x"}}),
			reply: func(g *fakeGuest, req *Envelope) {
				g.reply(req, ExecResult{Duration: -1})
			},
			want: ErrProtocol,
		},
		{
			name: "wrong body type",
			call: execCall(&ExecRequest{Argv: []string{"x"}}),
			reply: func(g *fakeGuest, req *Envelope) {
				g.reply(req, map[string]any{"exit_code": "zero"})
			},
			want: ErrProtocol,
		},
		{
			name: "event for a call that did not stream",
			call: execCall(&ExecRequest{Argv: []string{"x"}}),
			reply: func(g *fakeGuest, req *Envelope) {
				raw, _ := json.Marshal(ExecEvent{Stream: StreamStdout, Data: []byte("x")})
				g.send(&Envelope{Type: TypeEvent, ID: req.ID, Op: OpExec, Body: raw})
			},
			want: ErrProtocol,
		},
		{
			name: "response with another op",
			call: func(ctx context.Context, c *Client) error { return c.Ping(ctx) },
			reply: func(g *fakeGuest, req *Envelope) {
				g.send(&Envelope{Type: TypeResponse, ID: req.ID, Op: OpStats})
			},
			want: ErrProtocol,
		},
		{
			name: "negative memory",
			call: func(ctx context.Context, c *Client) error { _, err := c.Stats(ctx); return err },
			reply: func(g *fakeGuest, req *Envelope) {
				g.send(&Envelope{Type: TypeResponse, ID: req.ID, Op: OpStats, Body: json.RawMessage(`{"num_cpu":1,"memory":{"total":-5}}`)})
			},
			want: ErrProtocol,
		},
		{
			name: "zero cpus",
			call: func(ctx context.Context, c *Client) error { _, err := c.Stats(ctx); return err },
			reply: func(g *fakeGuest, req *Envelope) {
				g.reply(req, GuestStats{})
			},
			want: ErrProtocol,
		},
		{
			name: "output in a streamed response",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Exec(ctx, &ExecRequest{Argv: []string{"x"}}, &bytes.Buffer{}, nil)
				return err
			},
			reply: func(g *fakeGuest, req *Envelope) {
				g.reply(req, ExecResult{Stdout: []byte("late")})
			},
			want: ErrProtocol,
		},
		{
			name: "oversize stream chunk",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Exec(ctx, &ExecRequest{Argv: []string{"x"}}, &bytes.Buffer{}, nil)
				return err
			},
			reply: func(g *fakeGuest, req *Envelope) {
				raw, _ := json.Marshal(ExecEvent{Stream: StreamStdout, Data: make([]byte, MaxChunkSize+1)})
				g.send(&Envelope{Type: TypeEvent, ID: req.ID, Op: OpExec, Body: raw})
			},
			want: ErrProtocol,
		},
		{
			name: "remote error",
			call: func(ctx context.Context, c *Client) error { return c.Ping(ctx) },
			reply: func(g *fakeGuest, req *Envelope) {
				g.send(&Envelope{Type: TypeResponse, ID: req.ID, Op: OpPing, Error: &WireError{Code: "weird", Message: strings.Repeat("x", 5000)}})
			},
			want: nil, // checked below via errors.As
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := withFakeGuest(t, context.Background(), func(g *fakeGuest) {
				g.handshake()
				tt.reply(g, g.next())
				// The connection must still work afterwards.
				ping := g.next()
				g.reply(ping, nil)
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = tt.call(ctx, c)
			if tt.want == nil {
				var remote *RemoteError
				if !errors.As(err, &remote) || remote.Code != "weird" || len(remote.Message) > maxRemoteMessage+3 {
					t.Fatalf("error = %v, want a clipped RemoteError", err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if err := c.Ping(ctx); err != nil {
				t.Errorf("connection broken after a per-call error: %v", err)
			}
		})
	}
}

func execCall(req *ExecRequest) func(ctx context.Context, c *Client) error {
	return func(ctx context.Context, c *Client) error {
		_, err := c.Exec(ctx, req, nil, nil)
		return err
	}
}

func TestHostileGuestStreamOverCap(t *testing.T) {
	c, err := withFakeGuest(t, context.Background(), func(g *fakeGuest) {
		g.handshake()
		req := g.next()
		for range 3 {
			raw, _ := json.Marshal(ExecEvent{Stream: StreamStdout, Data: bytes.Repeat([]byte("a"), 30)})
			g.send(&Envelope{Type: TypeEvent, ID: req.ID, Op: OpExec, Body: raw})
		}
		g.reply(req, ExecResult{})
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := c.Exec(context.Background(), &ExecRequest{Argv: []string{"x"}, MaxOutput: 50}, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != 50 || !res.StdoutTruncated {
		t.Errorf("wrote %d bytes, truncated=%v; want exactly the 50 byte cap", out.Len(), res.StdoutTruncated)
	}
}

func TestHostileGuestUnknownIDIgnored(t *testing.T) {
	c, err := withFakeGuest(t, context.Background(), func(g *fakeGuest) {
		g.handshake()
		req := g.next()
		g.send(&Envelope{Type: TypeResponse, ID: req.ID + 1000, Op: OpPing})
		g.send(&Envelope{Type: TypeEvent, ID: req.ID + 1001, Op: OpExec})
		g.send(&Envelope{Type: TypeRequest, ID: 1, Op: OpPoweroff})
		g.reply(req, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestHostileGuestSilent(t *testing.T) {
	t.Run("never answers a call", func(t *testing.T) {
		c, err := withFakeGuest(t, context.Background(), func(g *fakeGuest) {
			g.handshake()
			g.drain()
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		began := time.Now()
		if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ping error = %v, want deadline exceeded", err)
		}
		if took := time.Since(began); took > time.Second {
			t.Errorf("ping returned after %v", took)
		}
		if c.Err() != nil {
			t.Errorf("a timed out call must not end the connection: %v", c.Err())
		}
	})
	t.Run("named timeout applies without a context deadline", func(t *testing.T) {
		c, err := withFakeGuest(t, context.Background(), func(g *fakeGuest) {
			g.handshake()
			g.drain()
		}, WithTimeouts(Timeouts{Stats: 100 * time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Stats(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("stats error = %v, want deadline exceeded", err)
		}
	})
	t.Run("never reads our request", func(t *testing.T) {
		c, err := withFakeGuest(t, context.Background(), func(g *fakeGuest) {
			g.handshake()
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := c.Ping(ctx); err == nil {
			t.Error("ping succeeded against a guest that never read it")
		}
	})
	t.Run("never answers hello", func(t *testing.T) {
		began := time.Now()
		_, err := withFakeGuest(t, context.Background(), func(g *fakeGuest) {
			g.drain()
		}, WithTimeouts(Timeouts{Handshake: 100 * time.Millisecond}))
		if !errors.Is(err, ErrHandshake) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want handshake deadline", err)
		}
		if took := time.Since(began); took > time.Second {
			t.Errorf("NewClient returned after %v", took)
		}
	})
}

func TestHandshakeSkipsStaleInput(t *testing.T) {
	staleHello := func(g *fakeGuest, req *Envelope) {
		info := g.helloInfo(req)
		info.Nonce = "stale"
		g.reply(req, info)
	}
	tests := []struct {
		name    string
		before  func(g *fakeGuest, req *Envelope)
		opts    []ClientOption
		wantErr error
	}{
		{
			name: "garbage and stale frames",
			before: func(g *fakeGuest, req *Envelope) {
				g.sendRaw([]byte("\x00\x01partial frame tail\"}"))
				g.send(&Envelope{Type: TypeResponse, ID: 1, Op: OpExec, Body: json.RawMessage(`{"exit_code":0}`)})
				g.send(&Envelope{Type: TypeEvent, ID: req.ID, Op: OpExec})
				g.sendRaw(frame(t, `not json`))
				staleHello(g, req)
			},
		},
		{
			name: "tail of a frame cut mid-header",
			before: func(g *fakeGuest, req *Envelope) {
				g.sendRaw(frame(t, `{"type":"response","id":3,"op":"ping"}`)[3:])
			},
		},
		{
			name: "more stale input than the limit",
			before: func(g *fakeGuest, req *Envelope) {
				g.sendRaw(bytes.Repeat([]byte("x"), 200<<10))
			},
			opts:    []ClientOption{WithHandshakeSkipLimit(100 << 10)},
			wantErr: ErrHandshake,
		},
		{
			name: "more stale frames than the limit",
			before: func(g *fakeGuest, req *Envelope) {
				for range 20 {
					g.send(&Envelope{Type: TypeResponse, ID: 1, Op: OpPing, Body: json.RawMessage(`"` + strings.Repeat("a", 10<<10) + `"`)})
				}
			},
			opts:    []ClientOption{WithHandshakeSkipLimit(100 << 10)},
			wantErr: ErrHandshake,
		},
		{
			name: "oversize frame during handshake",
			before: func(g *fakeGuest, req *Envelope) {
				g.sendRaw(header(MaxFrameSize + 1))
			},
			wantErr: ErrFrameTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := withFakeGuest(t, ctx, func(g *fakeGuest) {
				req := g.next()
				tt.before(g, req)
				if tt.wantErr != nil {
					g.drain()
					return
				}
				g.reply(req, g.helloInfo(req))
				ping := g.next()
				g.reply(ping, nil)
			}, tt.opts...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if c.Hello().AgentVersion != "fake" {
				t.Errorf("hello = %+v", c.Hello())
			}
			if err := c.Ping(ctx); err != nil {
				t.Errorf("ping after handshake: %v", err)
			}
		})
	}
}

func TestHandshakeVersionMismatch(t *testing.T) {
	tests := []struct {
		name  string
		reply func(g *fakeGuest, req *Envelope)
	}{
		{
			name: "guest reports another version",
			reply: func(g *fakeGuest, req *Envelope) {
				info := g.helloInfo(req)
				info.ProtocolVersion = ProtocolVersion + 1
				g.reply(req, info)
			},
		},
		{
			name: "guest refuses ours",
			reply: func(g *fakeGuest, req *Envelope) {
				raw, _ := json.Marshal(g.helloInfo(req))
				g.send(&Envelope{Type: TypeResponse, ID: req.ID, Op: OpHello, Body: raw,
					Error: &WireError{Code: CodeVersionMismatch, Message: "no"}})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := withFakeGuest(t, context.Background(), func(g *fakeGuest) {
				tt.reply(g, g.next())
			})
			if !errors.Is(err, ErrVersionMismatch) || !errors.Is(err, ErrHandshake) {
				t.Fatalf("error = %v, want version mismatch", err)
			}
		})
	}
}

func TestHandshakeRejectsHostileHello(t *testing.T) {
	_, err := withFakeGuest(t, context.Background(), func(g *fakeGuest) {
		req := g.next()
		info := g.helloInfo(req)
		info.KernelRelease = strings.Repeat("k", 10000)
		g.reply(req, info)
	})
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("error = %v, want ErrProtocol", err)
	}
}
