package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

func frame(t testing.TB, payload string) []byte {
	t.Helper()
	b, err := AppendFrame(nil, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func header(n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{0xFF, 'V', 'M', 'A'}, n)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name    string
		input   []byte
		opts    []FrameOption
		want    []string
		wantErr error // error after the wanted frames; io.EOF for a clean end
		skipped int64
	}{
		{
			name:    "round trip",
			input:   concat(frame(t, `{"a":1}`), frame(t, `{}`), frame(t, "")),
			want:    []string{`{"a":1}`, `{}`, ``},
			wantErr: io.EOF,
		},
		{
			name:    "empty stream",
			input:   nil,
			wantErr: io.EOF,
		},
		{
			name:    "oversize rejected",
			input:   concat(header(0xFFFFFFFF), []byte("{}")),
			wantErr: ErrFrameTooLarge,
		},
		{
			name:    "lowered limit",
			input:   frame(t, `{"abc":"defgh"}`),
			opts:    []FrameOption{WithMaxFrameSize(4)},
			wantErr: ErrFrameTooLarge,
		},
		{
			name:    "exactly at lowered limit",
			input:   frame(t, `{"a"}`),
			opts:    []FrameOption{WithMaxFrameSize(5)},
			want:    []string{`{"a"}`},
			wantErr: io.EOF,
		},
		{
			name:    "bad magic",
			input:   concat([]byte("garbage"), frame(t, "{}")),
			wantErr: ErrBadMagic,
		},
		{
			name:    "magic byte then wrong letters",
			input:   concat([]byte{0xFF, 'V', 'M', 'B', 0, 0, 0, 0}),
			wantErr: ErrBadMagic,
		},
		{
			name:    "truncated payload",
			input:   frame(t, `{"a":1}`)[:10],
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "truncated header",
			input:   frame(t, `{}`)[:6],
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "resync skips garbage",
			input:   concat([]byte("junk\x00\x01"), frame(t, `{"a":1}`), []byte{0xFF, 'x'}, frame(t, `{}`)),
			opts:    []FrameOption{WithResync(-1)},
			want:    []string{`{"a":1}`, `{}`},
			wantErr: io.EOF,
			skipped: 8,
		},
		{
			name:    "resync drains oversize frame",
			input:   concat(header(20), bytes.Repeat([]byte{0xFF}, 20), frame(t, `{"b":2}`)),
			opts:    []FrameOption{WithMaxFrameSize(10), WithResync(-1)},
			want:    []string{`{"b":2}`},
			wantErr: io.EOF,
			skipped: 20,
		},
		{
			name:    "resync skips the tail of a cut frame",
			input:   concat(frame(t, `{"first":"frame"}`)[6:], frame(t, `{}`)),
			opts:    []FrameOption{WithResync(-1)},
			want:    []string{`{}`},
			wantErr: io.EOF,
			skipped: int64(len(frame(t, `{"first":"frame"}`)) - 6),
		},
		{
			name:    "resync budget exhausted",
			input:   concat(bytes.Repeat([]byte("x"), 100), frame(t, `{}`)),
			opts:    []FrameOption{WithResync(50)},
			wantErr: ErrBadMagic,
		},
		{
			name:    "resync oversize beyond budget",
			input:   concat(header(1000), bytes.Repeat([]byte("x"), 1000), frame(t, `{}`)),
			opts:    []FrameOption{WithMaxFrameSize(10), WithResync(500)},
			wantErr: ErrFrameTooLarge,
		},
		{
			name:    "resync trailing garbage",
			input:   concat(frame(t, `{}`), []byte("tail")),
			opts:    []FrameOption{WithResync(-1)},
			want:    []string{`{}`},
			wantErr: io.ErrUnexpectedEOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := NewFrameReader(bytes.NewReader(tt.input), tt.opts...)
			var got []string
			var err error
			for {
				var p []byte
				if p, err = fr.ReadFrame(); err != nil {
					break
				}
				got = append(got, string(p))
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("frames = %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("frame %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
			if tt.skipped != 0 && fr.Skipped() != tt.skipped {
				t.Errorf("skipped = %d, want %d", fr.Skipped(), tt.skipped)
			}
		})
	}
}

func TestReadFrameOversizeMessage(t *testing.T) {
	_, err := NewFrameReader(bytes.NewReader(header(0xFFFFFFFF))).ReadFrame()
	want := "agent: frame of 4294967295 bytes exceeds limit 8388608: frame too large"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestAppendFrameRejectsOversize(t *testing.T) {
	_, err := AppendFrame(nil, make([]byte, MaxFrameSize+1))
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("error = %v, want ErrFrameTooLarge", err)
	}
}

// endless yields the same byte forever without holding it in memory.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

func TestReadFrameNeverAllocatesClaimedSize(t *testing.T) {
	const claimed = 64 << 20
	tests := []struct {
		name  string
		input io.Reader
		opts  []FrameOption
		want  error
	}{
		{
			name:  "strict reader refuses an oversize claim",
			input: io.MultiReader(bytes.NewReader(header(claimed)), endless('x')),
			want:  ErrFrameTooLarge,
		},
		{
			name: "resync reader drains an oversize frame",
			input: io.MultiReader(bytes.NewReader(header(claimed)), io.LimitReader(endless('x'), claimed),
				bytes.NewReader(frame(t, `{"ok":true}`))),
			opts: []FrameOption{WithResync(-1)},
		},
		{
			name:  "an in-limit claim with a stalled peer costs only what arrived",
			input: io.MultiReader(bytes.NewReader(header(MaxFrameSize)), bytes.NewReader([]byte("{}"))),
			want:  io.ErrUnexpectedEOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := NewFrameReader(tt.input, tt.opts...).ReadFrame()
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("allocated %d bytes reading one frame", grew)
			}
		})
	}
}
