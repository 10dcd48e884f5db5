package guestimage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

func TestDecompress(t *testing.T) {
	// Pseudo-random bytes are full of E8/E9 "calls", so the BCJ case checks
	// that the decoder undoes the x86 filter, across several LZMA2 chunks.
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 200_000)
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	if bytes.Equal(bcjX86Encode(data), data) {
		t.Fatal("fixture does not exercise the BCJ filter")
	}
	tests := []struct {
		name    string
		comp    string
		stream  []byte
		want    []byte
		wantErr error
	}{
		{name: "none", comp: compNone, stream: data, want: data},
		{name: "gzip, trailing bytes ignored", comp: compGzip, stream: append(gzipBytes(t, data), 1, 2, 3, 4), want: data},
		{name: "xz", comp: compXZ, stream: xzStore(t, data, false), want: data},
		{name: "xz with x86 BCJ", comp: compXZ, stream: xzStore(t, data, true), want: data},
		{name: "zstd", comp: compZstd, stream: data, wantErr: ErrUnsupportedCompression},
		{name: "bzip2", comp: compBzip2, stream: data, wantErr: ErrUnsupportedCompression},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decompress(bytes.NewReader(tt.stream), tt.comp)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("decompressed %d bytes, differ from the %d original", len(got), len(tt.want))
			}
		})
	}
}

func TestCompressionDetection(t *testing.T) {
	bySuffix := map[string]string{
		"data.tar.xz": compXZ, "data.tar.gz": compGzip, "data.tar.zst": compZstd, "data.tar": compNone,
		"control.tar.bz2": compBzip2, "virtio.ko": compNone, "virtio.ko.xz": compXZ, "virtio.ko.zst": compZstd,
	}
	for name, want := range bySuffix {
		if got := compressionBySuffix(name); got != want {
			t.Errorf("compressionBySuffix(%q) = %q, want %q", name, got, want)
		}
	}
	byMagic := []struct {
		magic []byte
		want  string
	}{
		{[]byte{0x1f, 0x8b, 0x08}, compGzip},
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, compXZ},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd}, compZstd},
		{[]byte{0x02, 0x21, 0x4c, 0x18}, compLZ4},
		{[]byte("BZh9"), compBzip2},
		{[]byte{0x89, 'L', 'Z', 'O'}, compLZO},
		{[]byte{0x5d, 0, 0, 0x80}, compLZMA},
		{[]byte{0x7f, 'E', 'L', 'F'}, compNone},
	}
	for _, tt := range byMagic {
		if got := compressionByMagic(tt.magic); got != tt.want {
			t.Errorf("compressionByMagic(% x) = %q, want %q", tt.magic, got, tt.want)
		}
	}
}

func TestCtxReader(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := ctxReader{ctx, bytes.NewReader([]byte("abc"))}
	buf := make([]byte, 1)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := r.Read(buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}
}
