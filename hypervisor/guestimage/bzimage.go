package guestimage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Offsets in the x86 boot setup header (Documentation/arch/x86/boot.rst).
const (
	bzSetupSects    = 0x1f1
	bzBootFlag      = 0x1fe
	bzHeaderMagic   = 0x202
	bzVersion       = 0x206
	bzPayloadOffset = 0x248
	bzPayloadLength = 0x24c
	bzHeaderEnd     = 0x250
)

// maxVmlinuxSize bounds decompression so a corrupt payload cannot fill the
// disk; Debian's vmlinux is about 66 MB.
const maxVmlinuxSize = 1 << 30

// bzPayload locates the compressed kernel inside a bzImage. payload_offset
// is relative to the protected-mode code, which starts after the boot
// sector and setup_sects setup sectors.
func bzPayload(r io.ReaderAt, size int64) (*io.SectionReader, error) {
	hdr := make([]byte, bzHeaderEnd)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("%w: read setup header: %w", ErrNotBzImage, err)
	}
	if binary.LittleEndian.Uint16(hdr[bzBootFlag:]) != 0xaa55 || string(hdr[bzHeaderMagic:bzHeaderMagic+4]) != "HdrS" {
		return nil, fmt.Errorf("%w: no HdrS setup header", ErrNotBzImage)
	}
	// payload_offset/length exist from boot protocol 2.08 on.
	if v := binary.LittleEndian.Uint16(hdr[bzVersion:]); v < 0x0208 {
		return nil, fmt.Errorf("%w: boot protocol %d.%02d has no payload fields", ErrNotBzImage, v>>8, v&0xff)
	}
	setupSects := int64(hdr[bzSetupSects])
	if setupSects == 0 {
		setupSects = 4 // as the boot protocol specifies for old kernels
	}
	start := (setupSects+1)*512 + int64(binary.LittleEndian.Uint32(hdr[bzPayloadOffset:]))
	length := int64(binary.LittleEndian.Uint32(hdr[bzPayloadLength:]))
	if length == 0 || start+length > size {
		return nil, fmt.Errorf("%w: payload [%d, +%d) outside the %d-byte file", ErrNotBzImage, start, length, size)
	}
	return io.NewSectionReader(r, start, length), nil
}

// xzStreamEnd trims the 4-byte uncompressed size the kernel's build appends
// after an xz payload (scripts/Makefile.lib size_append). The xz decoder
// would otherwise read it as stream padding, and when its first byte happens
// to be zero that is a format error. An xz stream ends with the footer magic
// "YZ", which tells whether the trailer is there.
func xzStreamEnd(payload *io.SectionReader) (*io.SectionReader, error) {
	n := payload.Size()
	if n < 6 {
		return payload, nil
	}
	tail := make([]byte, 6)
	if _, err := payload.ReadAt(tail, n-6); err != nil {
		return nil, fmt.Errorf("read payload tail: %w", err)
	}
	if bytes.Equal(tail[:2], []byte("YZ")) {
		return io.NewSectionReader(payload, 0, n-4), nil
	}
	return payload, nil
}

// extractVmlinux decompresses the kernel in bzImage to dst and returns the
// compression it found. An unsupported compression is an error wrapping
// ErrUnsupportedCompression and leaves dst absent.
func extractVmlinux(ctx context.Context, bzImage, dst string) (string, error) {
	f, err := os.Open(bzImage)
	if err != nil {
		return "", fmt.Errorf("open bzImage: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stat bzImage: %w", err)
	}
	payload, err := bzPayload(f, fi.Size())
	if err != nil {
		return "", err
	}
	magic := make([]byte, 8)
	if _, err := payload.ReadAt(magic, 0); err != nil && err != io.EOF {
		return "", fmt.Errorf("read payload: %w", err)
	}
	comp := compressionByMagic(magic)
	if comp == compXZ {
		if payload, err = xzStreamEnd(payload); err != nil {
			return comp, err
		}
	}
	if comp == compNone {
		return comp, fmt.Errorf("%w: kernel payload compression not recognised (magic % x)", ErrUnsupportedCompression, magic)
	}
	dec, err := decompress(ctxReader{ctx, payload}, comp)
	if err != nil {
		return comp, fmt.Errorf("kernel payload: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return comp, err
	}
	n, err := io.Copy(out, io.LimitReader(dec, maxVmlinuxSize+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxVmlinuxSize {
		err = fmt.Errorf("%w: decompressed kernel exceeds %d bytes", ErrNotBzImage, maxVmlinuxSize)
	}
	if err != nil {
		os.Remove(dst)
		return comp, fmt.Errorf("decompress %s kernel payload: %w", comp, err)
	}
	return comp, nil
}
