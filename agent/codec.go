package agent

import (
	"encoding/json"
	"fmt"
)

// encodeFrame marshals env into a complete frame.
func encodeFrame(env *Envelope) ([]byte, error) {
	payload, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("agent: encode %s %s: %w", env.Type, env.Op, err)
	}
	return AppendFrame(make([]byte, 0, HeaderSize+len(payload)), payload)
}

// decodeEnvelope parses a frame payload. The checks here are the ones
// every message must pass whichever side reads it.
func decodeEnvelope(payload []byte) (*Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, fmt.Errorf("agent: decode message: %w: %w", ErrMalformed, err)
	}
	switch env.Type {
	case TypeRequest, TypeResponse, TypeEvent:
	default:
		return nil, fmt.Errorf("agent: decode message: type %.32q: %w", env.Type, ErrMalformed)
	}
	return &env, nil
}

// marshalBody encodes a body; nil stays absent.
func marshalBody(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("agent: encode body: %w", err)
	}
	return b, nil
}
