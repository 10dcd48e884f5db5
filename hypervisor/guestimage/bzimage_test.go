package guestimage

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestBzPayload(t *testing.T) {
	payload := []byte("PAYLOAD-BYTES")
	good := func() []byte { return makeBzImage(t, 27, 0x3d8, payload) }
	tests := []struct {
		name    string
		img     []byte
		wantErr bool
	}{
		{name: "debian-like header", img: good()},
		{name: "setup_sects 0 means 4", img: makeBzImage(t, 0, 16, payload)},
		{name: "payload right after setup", img: makeBzImage(t, 1, 0, payload)},
		{name: "too short", img: good()[:0x200], wantErr: true},
		{name: "no HdrS", img: func() []byte { b := good(); copy(b[bzHeaderMagic:], "XXXX"); return b }(), wantErr: true},
		{name: "no boot flag", img: func() []byte { b := good(); b[bzBootFlag] = 0; return b }(), wantErr: true},
		{name: "protocol older than 2.08", img: func() []byte { b := good(); binary.LittleEndian.PutUint16(b[bzVersion:], 0x0206); return b }(), wantErr: true},
		{name: "payload past end of file", img: func() []byte { b := good(); binary.LittleEndian.PutUint32(b[bzPayloadLength:], 1<<20); return b }(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sr, err := bzPayload(bytes.NewReader(tt.img), int64(len(tt.img)))
			if tt.wantErr {
				if !errors.Is(err, ErrNotBzImage) {
					t.Fatalf("err = %v, want ErrNotBzImage", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(sr)
			if !bytes.Equal(got, payload) {
				t.Errorf("payload = %q, want %q", got, payload)
			}
		})
	}
}

func TestExtractVmlinux(t *testing.T) {
	vmlinux := makeVmlinux(t, true)
	// A size trailer whose first byte is zero would be taken for xz stream
	// padding if it were not trimmed.
	zeroFirst := append(xzStore(t, vmlinux, true), 0x00, 0x01, 0x02, 0x03)
	tests := []struct {
		name     string
		payload  []byte
		wantComp string
		wantErr  error
	}{
		{name: "gzip", payload: kernelPayload(t, compGzip, vmlinux), wantComp: compGzip},
		{name: "xz with BCJ and size trailer", payload: kernelPayload(t, compXZ, vmlinux), wantComp: compXZ},
		{name: "xz trailer starting with zero byte", payload: zeroFirst, wantComp: compXZ},
		{name: "xz without trailer", payload: xzStore(t, vmlinux, true), wantComp: compXZ},
		{name: "zstd is unsupported", payload: kernelPayload(t, compZstd, vmlinux), wantComp: compZstd, wantErr: ErrUnsupportedCompression},
		{name: "unknown magic", payload: append([]byte{0, 1, 2, 3, 4, 5, 6, 7}, vmlinux...), wantComp: compNone, wantErr: ErrUnsupportedCompression},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			bz := writeFile(t, dir, "bzImage", makeBzImage(t, 27, 0x3d8, tt.payload))
			dst := filepath.Join(dir, "vmlinux")
			comp, err := extractVmlinux(context.Background(), bz, dst)
			if comp != tt.wantComp {
				t.Errorf("compression = %q, want %q", comp, tt.wantComp)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("vmlinux left behind after failure")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(dst)
			if !bytes.Equal(got, vmlinux) {
				t.Fatalf("vmlinux differs from the original (%d vs %d bytes)", len(got), len(vmlinux))
			}
		})
	}
}

func TestExtractVmlinuxCorruptPayload(t *testing.T) {
	payload := kernelPayload(t, compGzip, makeVmlinux(t, true))
	payload[len(payload)/2] ^= 0xff
	dir := t.TempDir()
	bz := writeFile(t, dir, "bzImage", makeBzImage(t, 27, 0, payload))
	_, err := extractVmlinux(context.Background(), bz, filepath.Join(dir, "vmlinux"))
	if err == nil || errors.Is(err, ErrUnsupportedCompression) {
		t.Fatalf("corrupt payload: err = %v, want a decompression error", err)
	}
}

func TestExtractVmlinuxHonoursContext(t *testing.T) {
	dir := t.TempDir()
	bz := writeFile(t, dir, "bzImage", makeBzImage(t, 27, 0, kernelPayload(t, compGzip, makeVmlinux(t, true))))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := extractVmlinux(ctx, bz, filepath.Join(dir, "vmlinux")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestPVHEntry(t *testing.T) {
	entry4 := makeELF(t, elfSpec{typ: elf.ET_EXEC, segments: []elfSegment{
		{typ: elf.PT_NOTE, data: elfNote("Xen", xenElfnotePhys32Entry, []byte{0x50, 0x08, 0x00, 0x01})},
	}})
	wrongName := makeELF(t, elfSpec{typ: elf.ET_EXEC, segments: []elfSegment{
		{typ: elf.PT_NOTE, data: elfNote("Lin", xenElfnotePhys32Entry, []byte{1, 2, 3, 4})},
	}})
	elf32 := makeVmlinux(t, true)
	elf32[elf.EI_CLASS] = byte(elf.ELFCLASS32)
	tests := []struct {
		name      string
		data      []byte
		wantEntry uint64
		wantErr   bool
	}{
		{name: "8-byte note among others", data: makeVmlinux(t, true), wantEntry: 0x1000000},
		{name: "4-byte note", data: entry4, wantEntry: 0x1000850},
		{name: "no Xen note", data: makeVmlinux(t, false), wantErr: true},
		{name: "right type, wrong owner", data: wrongName, wantErr: true},
		{name: "not ELF64", data: elf32, wantErr: true},
		{name: "not ELF", data: []byte("MZ this is something else entirely"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entry, err := pvhEntry(bytes.NewReader(tt.data))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if entry != tt.wantEntry {
				t.Errorf("entry = %#x, want %#x", entry, tt.wantEntry)
			}
		})
	}
}

func TestKernelConfig(t *testing.T) {
	cfg := []byte("#\n# CONFIG_PVH is not set\nCONFIG_PVHX=y\nCONFIG_INITRAMFS_SOURCE=\"\"\nCONFIG_LOCALVERSION=\"-test\"\n  CONFIG_XEN=y\n")
	tests := []struct {
		symbol string
		want   string
		wantOK bool
	}{
		{"CONFIG_PVH", "", false},
		{"CONFIG_PVHX", "y", true},
		{"CONFIG_INITRAMFS_SOURCE", "", true},
		{"CONFIG_LOCALVERSION", "-test", true},
		{"CONFIG_XEN", "y", true},
		{"CONFIG_MISSING", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.symbol, func(t *testing.T) {
			got, ok := kernelConfig(cfg, tt.symbol)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("kernelConfig(%s) = %q, %v; want %q, %v", tt.symbol, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
