package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// handshake starts the connection's goroutines and exchanges hello.
func (c *Client) handshake(ctx context.Context, nonce string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeouts.Handshake)
	defer cancel()
	// The hello call is registered before the reader starts so that its
	// reply cannot race past it.
	fr := NewFrameReader(rxStamp{c}, WithMaxFrameSize(c.cfg.maxFrame), WithResync(c.cfg.skipLimit))
	id, cl := c.register(OpHello, nil)
	go c.writeLoop()
	go c.readLoop(fr, id, nonce)

	req := &Envelope{Type: TypeRequest, ID: id, Op: OpHello, TimeoutMS: remaining(ctx).Milliseconds()}
	req.Body, _ = marshalBody(&HelloRequest{ProtocolVersion: ProtocolVersion, Nonce: nonce})
	if err := c.send(ctx, req); err != nil {
		return fmt.Errorf("agent: %w: %w", ErrHandshake, err)
	}
	env, err := c.await(ctx, id, cl, nil)
	if errors.Is(err, ErrHandshake) {
		return err
	}
	if err != nil {
		return fmt.Errorf("agent: %w: %w", ErrHandshake, err)
	}
	var info HelloInfo
	if err := json.Unmarshal(env.Body, &info); err != nil {
		return fmt.Errorf("agent: %w: hello body: %w: %w", ErrHandshake, ErrProtocol, err)
	}
	if info.ProtocolVersion != ProtocolVersion {
		return fmt.Errorf("agent: %w: guest speaks protocol %d, host %d: %w", ErrHandshake, info.ProtocolVersion, ProtocolVersion, ErrVersionMismatch)
	}
	if err := info.validate(); err != nil {
		return fmt.Errorf("agent: %w: %w", ErrHandshake, err)
	}
	info.AgentVersion = clip(info.AgentVersion, maxInfoString)
	info.KernelRelease = clip(info.KernelRelease, maxInfoString)
	c.hello = info
	return nil
}

// readLoop is the connection's only reader. Until the hello reply carrying
// our nonce arrives it skips anything else, bounded by the skip limit:
// the guest may still be flushing frames meant for a previous connection,
// or the tail of one cut short. After that the stream must be clean.
func (c *Client) readLoop(fr *FrameReader, helloID uint64, nonce string) {
	handshaking := true
	var skippedFrames int64
	for {
		payload, err := fr.ReadFrame()
		if err != nil {
			if !errors.Is(err, ErrFrameTooLarge) && !errors.Is(err, ErrBadMagic) {
				err = fmt.Errorf("agent: connection lost: %w: %w", ErrClosed, err)
			}
			if handshaking {
				err = fmt.Errorf("agent: %w: %w", ErrHandshake, err)
			}
			c.fail(err)
			return
		}
		env, err := decodeEnvelope(payload)
		if handshaking {
			if err == nil && isHelloReply(env, helloID, nonce) {
				handshaking = false
				fr.Resync(0)
				c.finish(helloID, callResult{env: env})
				continue
			}
			skippedFrames += int64(HeaderSize + len(payload))
			left := c.cfg.skipLimit - fr.Skipped() - skippedFrames
			if left <= 0 {
				c.fail(fmt.Errorf("agent: %w: skipped %d bytes without a hello reply", ErrHandshake, fr.Skipped()+skippedFrames))
				return
			}
			fr.Resync(left)
			continue
		}
		if err != nil {
			c.fail(err)
			return
		}
		c.dispatch(env)
	}
}

func isHelloReply(env *Envelope, id uint64, nonce string) bool {
	if env.Type != TypeResponse || env.ID != id || env.Op != OpHello {
		return false
	}
	var body struct {
		Nonce string `json:"nonce"`
	}
	return json.Unmarshal(env.Body, &body) == nil && body.Nonce == nonce
}

// dispatch routes one message after the handshake. Messages for ids with
// no pending call (unknown, or already given up on) are dropped.
func (c *Client) dispatch(env *Envelope) {
	c.mu.Lock()
	cl := c.pending[env.ID]
	if cl == nil && env.Type == TypeResponse {
		c.probe.answered(env.ID)
	}
	c.mu.Unlock()
	if cl == nil {
		return
	}
	switch env.Type {
	case TypeResponse:
		if env.Op != cl.op {
			c.finish(env.ID, callResult{err: fmt.Errorf("agent: %s: response for op %.32q: %w", cl.op, env.Op, ErrProtocol)})
			return
		}
		c.finish(env.ID, callResult{env: env})
	case TypeEvent:
		if cl.onEvent == nil {
			c.finish(env.ID, callResult{err: fmt.Errorf("agent: %s: unexpected event: %w", cl.op, ErrProtocol)})
			return
		}
		if err := cl.onEvent(env); err != nil {
			c.finish(env.ID, callResult{err: err})
			return
		}
		select {
		case cl.notify <- struct{}{}:
		default:
		}
	}
	// Requests from the guest are not part of protocol version 1.
}
