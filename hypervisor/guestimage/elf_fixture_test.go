package guestimage

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// elfSpec describes a minimal ELF64 little-endian x86-64 file.
type elfSpec struct {
	typ      elf.Type
	segments []elfSegment
	sections []elfSection
}

type elfSegment struct {
	typ  elf.ProgType
	data []byte
}

type elfSection struct {
	name string
	data []byte
}

// makeELF lays out: header, program headers, segment data, section data,
// .shstrtab, section headers. Enough for debug/elf and for our checks.
func makeELF(t *testing.T, spec elfSpec) []byte {
	t.Helper()
	const ehsize, phentsize, shentsize = 64, 56, 64
	var body bytes.Buffer
	off := func() uint64 { return uint64(ehsize + phentsize*len(spec.segments) + body.Len()) }
	align8 := func() {
		for body.Len()%8 != 0 {
			body.WriteByte(0)
		}
	}

	var phdrs []elf.Prog64
	for _, s := range spec.segments {
		align8()
		phdrs = append(phdrs, elf.Prog64{Type: uint32(s.typ), Flags: uint32(elf.PF_R), Off: off(),
			Filesz: uint64(len(s.data)), Memsz: uint64(len(s.data)), Align: 4})
		body.Write(s.data)
	}

	var shdrs []elf.Section64
	var shoff uint64
	shstrndx := 0
	if len(spec.sections) > 0 {
		shstrtab := []byte{0}
		shdrs = append(shdrs, elf.Section64{}) // index 0 is always null
		for _, s := range spec.sections {
			align8()
			shdrs = append(shdrs, elf.Section64{Name: uint32(len(shstrtab)), Type: uint32(elf.SHT_PROGBITS),
				Off: off(), Size: uint64(len(s.data)), Addralign: 1})
			shstrtab = append(append(shstrtab, s.name...), 0)
			body.Write(s.data)
		}
		nameOff := uint32(len(shstrtab))
		shstrtab = append(shstrtab, ".shstrtab\x00"...)
		shdrs = append(shdrs, elf.Section64{Name: nameOff, Type: uint32(elf.SHT_STRTAB), Off: off(),
			Size: uint64(len(shstrtab)), Addralign: 1})
		body.Write(shstrtab)
		shstrndx = len(shdrs) - 1
		align8()
		shoff = off()
	}

	hdr := elf.Header64{
		Type: uint16(spec.typ), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Ehsize: ehsize, Phentsize: phentsize, Phnum: uint16(len(phdrs)),
		Shentsize: shentsize, Shnum: uint16(len(shdrs)), Shstrndx: uint16(shstrndx), Shoff: shoff,
	}
	if len(phdrs) > 0 {
		hdr.Phoff = ehsize
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)

	var out bytes.Buffer
	for _, v := range []any{hdr, phdrs} {
		if err := binary.Write(&out, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	out.Write(body.Bytes())
	if err := binary.Write(&out, binary.LittleEndian, shdrs); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// makeModule returns a relocatable ELF with a .modinfo section like modpost
// emits (other fields included, NUL padding between entries).
func makeModule(t *testing.T, name string, depends ...string) []byte {
	t.Helper()
	modinfo := fmt.Sprintf("license=GPL\x00\x00\x00depends=%s\x00retpoline=Y\x00intree=Y\x00name=%s\x00vermagic=6.1.0-test SMP\x00",
		strings.Join(depends, ","), name)
	return makeELF(t, elfSpec{typ: elf.ET_REL, sections: []elfSection{
		{name: ".text", data: []byte{0xc3}},
		{name: ".modinfo", data: []byte(modinfo)},
	}})
}

// elfNote encodes one ELF note.
func elfNote(name string, typ uint32, desc []byte) []byte {
	pad := func(b []byte) []byte {
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, []uint32{uint32(len(name) + 1), uint32(len(desc)), typ})
	out.Write(pad(append([]byte(name), 0)))
	out.Write(pad(desc))
	return out.Bytes()
}

// makeVmlinux returns an ELF64 executable, with the PVH note when pvh.
func makeVmlinux(t *testing.T, pvh bool) []byte {
	t.Helper()
	notes := elfNote("GNU", 3, []byte{1, 2, 3, 4})
	if pvh {
		entry := make([]byte, 8)
		binary.LittleEndian.PutUint64(entry, 0x1000000)
		notes = append(notes, elfNote("Xen", xenElfnotePhys32Entry, entry)...)
	}
	return makeELF(t, elfSpec{typ: elf.ET_EXEC, segments: []elfSegment{
		{typ: elf.PT_LOAD, data: bytes.Repeat([]byte{0x90}, 64)},
		{typ: elf.PT_NOTE, data: notes},
	}})
}

// makeStaticBinary and makeDynamicBinary stand in for busybox and the agent.
func makeStaticBinary(t *testing.T, marker string) []byte {
	t.Helper()
	return makeELF(t, elfSpec{typ: elf.ET_EXEC, segments: []elfSegment{{typ: elf.PT_LOAD, data: []byte(marker)}}})
}

func makeDynamicBinary(t *testing.T) []byte {
	t.Helper()
	return makeELF(t, elfSpec{typ: elf.ET_DYN, segments: []elfSegment{
		{typ: elf.PT_INTERP, data: []byte("/lib64/ld-linux-x86-64.so.2\x00")},
		{typ: elf.PT_LOAD, data: []byte("dyn")},
	}})
}
