package agent

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors. Callers test for them with errors.Is; every error the
// package returns wraps at most a few of these plus the underlying cause.
var (
	// ErrFrameTooLarge: a frame header claimed more than the reader's limit.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrBadMagic: the bytes at a frame boundary were not the frame magic.
	ErrBadMagic = errors.New("bad frame magic")
	// ErrMalformed: a frame's payload was not a valid message.
	ErrMalformed = errors.New("malformed message")
	// ErrProtocol: a well-formed message broke the protocol (wrong type,
	// output over its cap, impossible values, ...).
	ErrProtocol = errors.New("protocol violation")
	// ErrVersionMismatch: host and guest speak different protocol versions.
	ErrVersionMismatch = errors.New("protocol version mismatch")
	// ErrHandshake: no valid hello response within the handshake bounds.
	ErrHandshake = errors.New("handshake failed")
	// ErrClosed: the connection is closed or was lost.
	ErrClosed = errors.New("connection closed")
	// ErrUnresponsive: calls were pending and the guest sent nothing at
	// all, not even a reply to a ping, for Timeouts.Unresponsive (a
	// stopped or hung guest). The client closed the connection, so errors
	// wrapping it also wrap ErrClosed.
	ErrUnresponsive = errors.New("guest agent stopped answering")
	// ErrBadRequest: a request was invalid; nothing was run.
	ErrBadRequest = errors.New("bad request")
	// ErrNotFound: the program or file a request named does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnsupported: the agent does not implement the operation here (for
	// example poweroff when the agent is not PID 1).
	ErrUnsupported = errors.New("unsupported")
	// ErrUnknownOp: the agent does not know the operation at all.
	ErrUnknownOp = errors.New("unknown operation")
)

// Error codes carried in the "error" member of a response.
const (
	CodeBadRequest      = "bad_request"
	CodeNotFound        = "not_found"
	CodeUnknownOp       = "unknown_op"
	CodeUnsupported     = "unsupported"
	CodeVersionMismatch = "version_mismatch"
	CodeTimeout         = "timeout"
	CodeCanceled        = "canceled"
	CodeInternal        = "internal"
)

// RemoteError is an error reported by the agent for one request.
// It unwraps to the sentinel matching its code, so both
// errors.As(err, &remote) and errors.Is(err, ErrUnsupported) work.
type RemoteError struct {
	Op      string
	Code    string
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("agent: %s: remote error %s: %s", e.Op, e.Code, e.Message)
}

// Unwrap maps well-known codes to sentinels; unknown codes unwrap to nil.
func (e *RemoteError) Unwrap() error {
	return sentinelForCode(e.Code)
}

func sentinelForCode(code string) error {
	switch code {
	case CodeBadRequest:
		return ErrBadRequest
	case CodeNotFound:
		return ErrNotFound
	case CodeUnknownOp:
		return ErrUnknownOp
	case CodeUnsupported:
		return ErrUnsupported
	case CodeVersionMismatch:
		return ErrVersionMismatch
	case CodeTimeout:
		return context.DeadlineExceeded
	case CodeCanceled:
		return context.Canceled
	}
	return nil
}

// codeForError picks the wire code for a handler error. Order matters: a
// handler may wrap several sentinels and the most specific wins.
func codeForError(err error) string {
	var remote *RemoteError
	switch {
	case errors.As(err, &remote):
		return remote.Code
	case errors.Is(err, ErrBadRequest):
		return CodeBadRequest
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, ErrUnknownOp):
		return CodeUnknownOp
	case errors.Is(err, ErrUnsupported):
		return CodeUnsupported
	case errors.Is(err, ErrVersionMismatch):
		return CodeVersionMismatch
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	}
	return CodeInternal
}
