package agent

import (
	"bytes"
	"context"
	"io"
)

// cappedOutput is where a command's stdout or stderr goes. Writes never
// fail: refusing output would make the command die of SIGPIPE or block,
// which is worse than dropping what is over the cap.
type cappedOutput interface {
	io.Writer
	// result returns the kept bytes and whether any were dropped.
	result() ([]byte, bool)
}

type cappedBuffer struct {
	limit     int64
	buf       bytes.Buffer
	truncated bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	keep := min(int64(len(p)), b.limit-int64(b.buf.Len()))
	if keep < int64(len(p)) {
		b.truncated = true
	}
	b.buf.Write(p[:keep])
	return len(p), nil
}

func (b *cappedBuffer) result() ([]byte, bool) { return b.buf.Bytes(), b.truncated }

// streamWriter forwards output as chunks of at most MaxChunkSize.
type streamWriter struct {
	ctx       context.Context
	stream    string
	limit     int64
	out       OutputFunc
	sent      int64
	truncated bool
	err       error
}

func (w *streamWriter) Write(p []byte) (int, error) {
	keep := min(int64(len(p)), w.limit-w.sent)
	if keep < int64(len(p)) {
		w.truncated = true
	}
	for chunk := p[:keep]; len(chunk) > 0 && w.err == nil; {
		n := min(len(chunk), MaxChunkSize)
		// A failed send means the connection is gone; keep draining the
		// pipe so the command is not blocked, the context will end it.
		w.err = w.out(w.ctx, w.stream, chunk[:n])
		w.sent += int64(n)
		chunk = chunk[n:]
	}
	return len(p), nil
}

func (w *streamWriter) result() ([]byte, bool) { return nil, w.truncated }
