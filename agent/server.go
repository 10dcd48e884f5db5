package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Serve accepts connections until ctx ends or Accept fails, serving each
// with ServeConn. It closes l when ctx ends. It does not wait for open
// connections: a virtio port read cannot be interrupted.
func Serve(ctx context.Context, l Listener, h Handler, opts ...ServerOption) error {
	cfg := newServerConfig(opts)
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()
	for {
		conn, err := l.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("agent: accept: %w", err)
		}
		go func() {
			if err := ServeConn(ctx, conn, h, opts...); err != nil {
				cfg.log.Printf("connection ended: %v", err)
			}
		}()
	}
}

// ServeConn serves one connection until the peer goes away or ctx ends,
// then closes conn. A peer that disconnects, even mid-frame, is a normal
// end and returns nil. Garbage and oversize frames are skipped: the host
// may have dropped off half-way through a frame and reconnected.
func ServeConn(ctx context.Context, conn io.ReadWriteCloser, h Handler, opts ...ServerOption) error {
	cfg := newServerConfig(opts)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Closing is the only way to interrupt a blocked Read on most conns.
	context.AfterFunc(ctx, func() { _ = conn.Close() })

	sc := &serverConn{cfg: cfg, conn: conn, h: h}
	fr := NewFrameReader(conn, WithMaxFrameSize(cfg.maxFrame), WithResync(-1))
	sem := make(chan struct{}, cfg.maxInflight)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: in-flight requests are cancelled
	for {
		skipped := fr.Skipped()
		payload, err := fr.ReadFrame()
		if n := fr.Skipped() - skipped; n > 0 {
			cfg.log.Printf("skipped %d bytes of garbage or oversize frames", n)
		}
		if err != nil {
			if ctx.Err() != nil || isDisconnect(err) {
				return nil
			}
			return fmt.Errorf("agent: serve: %w", err)
		}
		env, err := decodeEnvelope(payload)
		if err != nil {
			cfg.log.Printf("dropped message: %v", err)
			continue
		}
		if env.Type != TypeRequest {
			cfg.log.Printf("dropped %s message %d", env.Type, env.ID)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sc.handle(ctx, env)
		}()
	}
}

func isDisconnect(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) || errors.Is(err, ErrClosed)
}

type serverConn struct {
	cfg *serverConfig
	h   Handler
	// wmu keeps each frame contiguous on the wire.
	wmu  sync.Mutex
	conn io.Writer
	// badVersion is set once a hello with another protocol version
	// arrived; everything after it is refused.
	badVersion atomic.Bool
}

func (s *serverConn) handle(ctx context.Context, req *Envelope) {
	timeout := s.cfg.maxTimeout
	if req.TimeoutMS > 0 && req.TimeoutMS < int64(timeout/time.Millisecond) {
		timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	body, err := s.dispatch(ctx, req)
	resp := &Envelope{Type: TypeResponse, ID: req.ID, Op: req.Op}
	if body != nil {
		var merr error
		if resp.Body, merr = marshalBody(body); merr != nil {
			err = errors.Join(err, merr)
		}
	}
	if err != nil {
		resp.Error = &WireError{Code: codeForError(err), Message: err.Error()}
	}
	if err := s.send(resp); err != nil {
		// The body may be what was too big; the host still deserves an answer.
		resp.Body = nil
		resp.Error = &WireError{Code: CodeInternal, Message: err.Error()}
		if err := s.send(resp); err != nil {
			s.cfg.log.Printf("%s %d: send response: %v", req.Op, req.ID, err)
		}
	}
}

func (s *serverConn) dispatch(ctx context.Context, req *Envelope) (any, error) {
	if req.Op != OpHello && s.badVersion.Load() {
		return nil, fmt.Errorf("agent: %s: refused after hello: %w", req.Op, ErrVersionMismatch)
	}
	switch req.Op {
	case OpHello:
		var hello HelloRequest
		if err := decodeBody(req, &hello); err != nil {
			return nil, err
		}
		info, err := s.h.Hello(ctx)
		if err != nil {
			return nil, err
		}
		if info == nil {
			return nil, fmt.Errorf("agent: hello: handler returned no info")
		}
		// The nonce goes back even on a version mismatch, so the host can
		// tell this answer is to its hello and report the mismatch.
		info.Nonce = hello.Nonce
		info.ProtocolVersion = ProtocolVersion
		if hello.ProtocolVersion != ProtocolVersion {
			s.badVersion.Store(true)
			return info, fmt.Errorf("agent: hello: host speaks version %d, agent %d: %w", hello.ProtocolVersion, ProtocolVersion, ErrVersionMismatch)
		}
		return info, nil
	case OpPing:
		return nil, nil
	case OpExec:
		var exec ExecRequest
		if err := decodeBody(req, &exec); err != nil {
			return nil, err
		}
		if err := exec.Validate(); err != nil {
			return nil, err
		}
		var out OutputFunc
		if exec.Stream {
			out = func(_ context.Context, stream string, data []byte) error {
				body, err := marshalBody(&ExecEvent{Stream: stream, Data: data})
				if err != nil {
					return err
				}
				return s.send(&Envelope{Type: TypeEvent, ID: req.ID, Op: OpExec, Body: body})
			}
		}
		return s.h.Exec(ctx, &exec, out)
	case OpStats:
		return s.h.Stats(ctx)
	case OpMount:
		var mount MountRequest
		if err := decodeBody(req, &mount); err != nil {
			return nil, err
		}
		if err := mount.Validate(); err != nil {
			return nil, err
		}
		return nil, s.h.Mount(ctx, &mount)
	case OpPoweroff:
		return nil, s.h.Poweroff(ctx)
	}
	return nil, fmt.Errorf("agent: op %.64q: %w", req.Op, ErrUnknownOp)
}

func decodeBody(req *Envelope, v any) error {
	if err := json.Unmarshal(req.Body, v); err != nil {
		return fmt.Errorf("agent: %s: decode body: %w: %w", req.Op, ErrBadRequest, err)
	}
	return nil
}

func (s *serverConn) send(env *Envelope) error {
	frame, err := encodeFrame(env)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.conn.Write(frame); err != nil {
		return fmt.Errorf("agent: send %s %d: %w", env.Type, env.ID, err)
	}
	return nil
}
