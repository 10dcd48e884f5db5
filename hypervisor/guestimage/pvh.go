package guestimage

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
)

// xenElfnotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit entry point
// a PVH loader (QEMU's -kernel with an ELF) jumps to.
const xenElfnotePhys32Entry = 18

// errNoPVHNote is internal: the kernel is a valid ELF64 but not PVH-bootable.
var errNoPVHNote = errors.New("no Xen PHYS32_ENTRY ELF note")

// pvhEntry checks that r is an ELF64 with a PT_NOTE holding a "Xen" note of
// type XEN_ELFNOTE_PHYS32_ENTRY and returns the entry address. QEMU only
// boots an ELF kernel through PVH when that note is present.
func pvhEntry(r io.ReaderAt) (uint64, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return 0, fmt.Errorf("kernel is not an ELF: %w", err)
	}
	if f.Class != elf.ELFCLASS64 {
		return 0, fmt.Errorf("kernel is %v, want ELFCLASS64", f.Class)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		data, err := io.ReadAll(p.Open())
		if err != nil {
			return 0, fmt.Errorf("read PT_NOTE: %w", err)
		}
		if entry, ok := findNote(data, f.ByteOrder, "Xen", xenElfnotePhys32Entry); ok {
			return entry, nil
		}
	}
	return 0, errNoPVHNote
}

// findNote walks ELF notes (namesz, descsz, type, name, desc; name and desc
// padded to 4 bytes) and returns the desc of the first matching note as an
// address; the kernel emits it as a 4- or 8-byte value depending on the build.
func findNote(data []byte, bo binary.ByteOrder, name string, typ uint32) (uint64, bool) {
	align := func(n uint64) uint64 { return (n + 3) &^ 3 }
	for len(data) >= 12 {
		namesz := uint64(bo.Uint32(data[0:]))
		descsz := uint64(bo.Uint32(data[4:]))
		ntype := bo.Uint32(data[8:])
		data = data[12:]
		if align(namesz) > uint64(len(data)) || align(namesz)+align(descsz) > uint64(len(data)) {
			return 0, false
		}
		nname := strings.TrimRight(string(data[:namesz]), "\x00")
		desc := data[align(namesz) : align(namesz)+descsz]
		data = data[align(namesz)+align(descsz):]
		if nname != name || ntype != typ {
			continue
		}
		switch len(desc) {
		case 4:
			return uint64(bo.Uint32(desc)), true
		case 8:
			return bo.Uint64(desc), true
		default:
			return 0, true
		}
	}
	return 0, false
}

// pvhResult says whether staged/vmlinux was produced and why not.
type pvhResult struct {
	ok          bool
	reason      string
	compression string
	entry       uint64
}

// preparePVH extracts vmlinux when the kernel can boot via PVH, which skips
// SeaBIOS and in-guest decompression (2.7 s vs 4.8 s to first guest output
// under TCG). A kernel that cannot (no CONFIG_PVH, a payload compression we
// cannot read, no PVH note) is not an error: bzImage still boots, so the
// reason is logged and recorded. A corrupt payload is an error.
func (b *builder) preparePVH(ctx context.Context, pkg *kernelPackage, staged string) (pvhResult, error) {
	var res pvhResult
	fallback := func(reason string) (pvhResult, error) {
		res.reason = reason
		b.log.WithField("reason", reason).Warn("kernel will boot from bzImage, not PVH")
		return res, nil
	}
	if v, _ := kernelConfig(pkg.Config, "CONFIG_PVH"); v != "y" {
		return fallback("kernel config lacks CONFIG_PVH=y")
	}
	vmlinux := filepath.Join(staged, fileVmlinux)
	t0 := b.now()
	comp, err := extractVmlinux(ctx, pkg.BzImage, vmlinux)
	res.compression = comp
	b.log.WithFields(logrus.Fields{"compression": comp, "seconds": b.now().Sub(t0).Seconds()}).Debug("decompressed kernel payload")
	if errors.Is(err, ErrUnsupportedCompression) {
		return fallback(err.Error())
	}
	if err != nil {
		return res, err
	}
	f, err := os.Open(vmlinux)
	if err != nil {
		return res, err
	}
	entry, err := pvhEntry(f)
	f.Close()
	if err != nil {
		if rerr := os.Remove(vmlinux); rerr != nil {
			return res, rerr
		}
		return fallback(err.Error())
	}
	res.ok, res.entry = true, entry
	return res, nil
}
