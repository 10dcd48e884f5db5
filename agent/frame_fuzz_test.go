package agent

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame feeds arbitrary bytes to strict and resyncing readers.
// Neither may panic or return a frame over its limit, a strict reader must
// fail only with the documented errors, and a frame built from the input
// must round-trip.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add(frame(f, `{"type":"request","id":1,"op":"ping"}`))
	f.Add(concat([]byte("garbage"), frame(f, `{}`)))
	f.Add(concat(header(0xFFFFFFFF), []byte("{}")))
	f.Add(concat(header(300), bytes.Repeat([]byte{0xFF}, 300), frame(f, `{}`)))
	f.Add([]byte{0xFF, 'V', 'M', 'A', 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 256
		strict := NewFrameReader(bytes.NewReader(data), WithMaxFrameSize(limit))
		for {
			p, err := strict.ReadFrame()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrBadMagic) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("strict reader: unexpected error %v", err)
				}
				break
			}
			if len(p) > limit {
				t.Fatalf("strict reader returned %d bytes over limit %d", len(p), limit)
			}
		}

		resync := NewFrameReader(bytes.NewReader(data), WithMaxFrameSize(limit), WithResync(-1))
		var consumed int64
		for {
			p, err := resync.ReadFrame()
			if err != nil {
				break
			}
			if len(p) > limit {
				t.Fatalf("resync reader returned %d bytes over limit %d", len(p), limit)
			}
			consumed += int64(HeaderSize + len(p))
		}
		if consumed+resync.Skipped() > int64(len(data)) {
			t.Fatalf("accounted for %d bytes of a %d byte input", consumed+resync.Skipped(), len(data))
		}

		if len(data) <= MaxFrameSize {
			enc, err := AppendFrame(nil, data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewFrameReader(bytes.NewReader(enc)).ReadFrame()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("round trip: got %q, %v", got, err)
			}
		}
	})
}
