package guestimage

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/therootcompany/xz"
)

// Compression formats, named as in error messages and manifests.
const (
	compNone  = "none"
	compGzip  = "gzip"
	compXZ    = "xz"
	compZstd  = "zstd"
	compLZ4   = "lz4"
	compBzip2 = "bzip2"
	compLZMA  = "lzma"
	compLZO   = "lzo"
)

// compressionBySuffix maps a file name to its compression the way dpkg and
// kmod name them.
func compressionBySuffix(name string) string {
	switch {
	case strings.HasSuffix(name, ".xz"):
		return compXZ
	case strings.HasSuffix(name, ".gz"):
		return compGzip
	case strings.HasSuffix(name, ".zst"):
		return compZstd
	case strings.HasSuffix(name, ".bz2"):
		return compBzip2
	case strings.HasSuffix(name, ".lzma"):
		return compLZMA
	case strings.HasSuffix(name, ".lz4"):
		return compLZ4
	default:
		return compNone
	}
}

// compressionByMagic recognises the formats the kernel's build can put in a
// bzImage payload (arch/x86/boot/compressed/Makefile).
func compressionByMagic(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return compGzip
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return compXZ
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return compZstd
	case bytes.HasPrefix(b, []byte{0x02, 0x21, 0x4c, 0x18}):
		return compLZ4
	case bytes.HasPrefix(b, []byte("BZh")):
		return compBzip2
	case bytes.HasPrefix(b, []byte{0x89, 'L', 'Z', 'O'}):
		return compLZO
	case bytes.HasPrefix(b, []byte{0x5d, 0x00, 0x00}):
		return compLZMA
	default:
		return compNone
	}
}

// decompress returns a reader of r decompressed as comp. Only the first
// stream is read, so data after it (the kernel appends the uncompressed size
// to its payload) is ignored rather than parsed as another stream.
func decompress(r io.Reader, comp string) (io.Reader, error) {
	switch comp {
	case compNone:
		return r, nil
	case compGzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("open gzip stream: %w", err)
		}
		zr.Multistream(false)
		return zr, nil
	case compXZ:
		// 0 selects the default dictionary cap (64 MiB), enough for xz -9
		// and for the kernel's 32 MiB dictionary.
		zr, err := xz.NewReader(r, 0)
		if err != nil {
			return nil, fmt.Errorf("open xz stream: %w", err)
		}
		zr.Multistream(false)
		return zr, nil
	default:
		return nil, fmt.Errorf("%w: %s (only xz and gzip are supported)", ErrUnsupportedCompression, comp)
	}
}

// ctxReader fails reads once ctx is done, so long copies out of large
// archives stop promptly on cancellation.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
