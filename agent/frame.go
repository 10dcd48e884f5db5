package agent

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

const (
	// MaxFrameSize is the hard cap on a frame's payload. Readers may be
	// configured lower, never higher.
	MaxFrameSize = 8 << 20

	// HeaderSize is the size of the magic plus the length field.
	HeaderSize = 8

	// magicByte starts every frame. 0xFF never appears in UTF-8, hence never
	// in a JSON payload, so a reader that lost sync can scan for it.
	magicByte = 0xFF
)

var frameMagic = [4]byte{magicByte, 'V', 'M', 'A'}

// AppendFrame appends one frame carrying payload to dst.
func AppendFrame(dst, payload []byte) ([]byte, error) {
	if len(payload) > MaxFrameSize {
		return dst, fmt.Errorf("agent: frame of %d bytes exceeds limit %d: %w", len(payload), MaxFrameSize, ErrFrameTooLarge)
	}
	dst = append(dst, frameMagic[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...), nil
}

// FrameOption configures a FrameReader.
type FrameOption func(*FrameReader)

// WithMaxFrameSize lowers the payload limit. Values outside (0, MaxFrameSize]
// leave the limit at MaxFrameSize.
func WithMaxFrameSize(n int) FrameOption {
	return func(fr *FrameReader) {
		if n > 0 && n <= MaxFrameSize {
			fr.limit = uint32(n)
		}
	}
}

// WithResync makes the reader tolerant; see FrameReader.Resync.
func WithResync(budget int64) FrameOption {
	return func(fr *FrameReader) { fr.Resync(budget) }
}

// FrameReader reads frames from a byte stream.
//
// In strict mode (the default, used by the host) a bad magic or an oversize
// length is returned as an error and the stream must be abandoned. In resync
// mode (the guest, and the host during its handshake) garbage is skipped up
// to the next magic and oversize frames are drained without being stored.
//
// A FrameReader is not safe for concurrent use.
type FrameReader struct {
	r       *bufio.Reader
	limit   uint32
	resync  bool
	budget  int64 // bytes resync may still skip; <0 means unlimited
	skipped int64
}

// NewFrameReader returns a strict reader with limit MaxFrameSize unless
// options say otherwise.
func NewFrameReader(r io.Reader, opts ...FrameOption) *FrameReader {
	fr := &FrameReader{r: bufio.NewReaderSize(r, 64<<10), limit: MaxFrameSize}
	for _, o := range opts {
		o(fr)
	}
	return fr
}

// Resync switches modes. budget > 0 allows skipping that many more bytes of
// garbage and drained frames before giving up; budget < 0 allows any amount;
// budget == 0 returns to strict mode.
func (fr *FrameReader) Resync(budget int64) {
	fr.resync = budget != 0
	fr.budget = budget
}

// Skipped reports how many bytes resync has discarded so far.
func (fr *FrameReader) Skipped() int64 { return fr.skipped }

// Limit reports the payload limit in bytes.
func (fr *FrameReader) Limit() int { return int(fr.limit) }

// ReadFrame returns the next frame's payload. It returns io.EOF only at a
// frame boundary; a stream that ends inside a frame yields an error wrapping
// io.ErrUnexpectedEOF.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	for {
		n, err := fr.readHeader()
		if err != nil {
			return nil, err
		}
		if n > fr.limit {
			if err := fr.drain(n); err != nil {
				return nil, err
			}
			continue
		}
		// Grow with the data actually received rather than allocating the
		// claimed length up front: a peer that announces 8 MiB and then
		// stalls costs us only what it sent.
		var buf bytes.Buffer
		if _, err := io.CopyN(&buf, fr.r, int64(n)); err != nil {
			return nil, fmt.Errorf("agent: read frame payload: %w", unexpected(err))
		}
		return buf.Bytes(), nil
	}
}

// readHeader returns the length of the next frame, skipping garbage first
// when resyncing.
func (fr *FrameReader) readHeader() (uint32, error) {
	for {
		hdr, err := fr.r.Peek(HeaderSize)
		if len(hdr) >= len(frameMagic) && !bytes.Equal(hdr[:len(frameMagic)], frameMagic[:]) ||
			len(hdr) > 0 && hdr[0] != magicByte {
			if !fr.resync {
				return 0, fmt.Errorf("agent: read frame: got % x: %w", hdr[:min(len(hdr), len(frameMagic))], ErrBadMagic)
			}
			if err := fr.skipGarbage(); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			if len(hdr) == 0 && err == io.EOF {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("agent: read frame header: %w", unexpected(err))
		}
		n := binary.BigEndian.Uint32(hdr[len(frameMagic):])
		if _, err := fr.r.Discard(HeaderSize); err != nil {
			return 0, fmt.Errorf("agent: read frame header: %w", err)
		}
		return n, nil
	}
}

// skipGarbage discards the byte at the read position and everything up to
// the next magic byte.
func (fr *FrameReader) skipGarbage() error {
	if err := fr.charge(1); err != nil {
		return err
	}
	if _, err := fr.r.Discard(1); err != nil {
		return err
	}
	for {
		if fr.r.Buffered() == 0 {
			if _, err := fr.r.Peek(1); err != nil {
				return fmt.Errorf("agent: skip garbage: %w", unexpected(err))
			}
		}
		buf, _ := fr.r.Peek(fr.r.Buffered())
		i := bytes.IndexByte(buf, magicByte)
		if i < 0 {
			i = len(buf)
		}
		if err := fr.charge(int64(i)); err != nil {
			return err
		}
		if _, err := fr.r.Discard(i); err != nil {
			return err
		}
		if i < len(buf) {
			return nil
		}
	}
}

// drain discards an oversize frame in resync mode, or reports it.
func (fr *FrameReader) drain(n uint32) error {
	tooLarge := fmt.Errorf("agent: frame of %d bytes exceeds limit %d: %w", n, fr.limit, ErrFrameTooLarge)
	if !fr.resync || fr.budget >= 0 && int64(n) > fr.budget {
		return tooLarge
	}
	// io.Discard reads through a small pooled buffer: nothing near n bytes
	// is ever allocated.
	drained, err := io.CopyN(io.Discard, fr.r, int64(n))
	if cerr := fr.charge(drained); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("agent: drain oversize frame: %w", unexpected(err))
	}
	return nil
}

func (fr *FrameReader) charge(n int64) error {
	if fr.budget >= 0 {
		if n > fr.budget {
			return fmt.Errorf("agent: skipped %d bytes without finding a frame: %w", fr.skipped+n, ErrBadMagic)
		}
		fr.budget -= n
	}
	fr.skipped += n
	return nil
}

// unexpected turns a mid-frame EOF into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
