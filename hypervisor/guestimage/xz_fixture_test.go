package guestimage

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// xzStore encodes data as a valid .xz file using only uncompressed LZMA2
// chunks (CRC32 check), so no LZMA encoder is needed, optionally behind the
// x86 BCJ filter the kernel's xz_wrap.sh uses.
func xzStore(t *testing.T, data []byte, bcj bool) []byte {
	t.Helper()
	uncompressed := data
	if bcj {
		data = bcjX86Encode(data)
	}
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	varint := func(b []byte, v uint64) []byte {
		for v >= 0x80 {
			b = append(b, byte(v)|0x80)
			v >>= 7
		}
		return append(b, byte(v))
	}
	flags := []byte{0x00, 0x01} // check type CRC32
	var out bytes.Buffer
	out.Write([]byte{0xfd, '7', 'z', 'X', 'Z', 0x00})
	out.Write(flags)
	out.Write(le32(crc32.ChecksumIEEE(flags)))

	// Block header: size byte, flags (filter count - 1), filters, padding, CRC32.
	filters := []byte{}
	nfilters := byte(0)
	if bcj {
		filters = append(filters, 0x04, 0x00) // BCJ x86, no properties
		nfilters++
	}
	filters = append(filters, 0x21, 0x01, 0x08) // LZMA2, 1 prop byte: 64 KiB dictionary
	bh := append([]byte{0, nfilters}, filters...)
	for (len(bh)+4)%4 != 0 {
		bh = append(bh, 0)
	}
	bh[0] = byte((len(bh)+4)/4 - 1)
	bh = append(bh, le32(crc32.ChecksumIEEE(bh))...)

	// LZMA2 uncompressed chunks: 0x01 resets the dictionary, 0x02 continues.
	var comp []byte
	for i := 0; i < len(data); i += 1 << 16 {
		chunk := data[i:min(i+1<<16, len(data))]
		ctl := byte(0x02)
		if i == 0 {
			ctl = 0x01
		}
		comp = append(comp, ctl, byte((len(chunk)-1)>>8), byte(len(chunk)-1))
		comp = append(comp, chunk...)
	}
	comp = append(comp, 0x00)
	unpadded := len(bh) + len(comp) + 4
	out.Write(bh)
	out.Write(comp)
	for (len(bh)+len(comp))%4 != 0 {
		out.WriteByte(0)
		comp = append(comp, 0)
	}
	out.Write(le32(crc32.ChecksumIEEE(uncompressed)))

	index := varint(varint(varint([]byte{0x00}, 1), uint64(unpadded)), uint64(len(uncompressed)))
	for len(index)%4 != 0 {
		index = append(index, 0)
	}
	index = append(index, le32(crc32.ChecksumIEEE(index))...)
	out.Write(index)

	footer := append(le32(uint32(len(index)/4-1)), flags...)
	out.Write(le32(crc32.ChecksumIEEE(footer)))
	out.Write(footer)
	out.WriteString("YZ")
	return out.Bytes()
}

// bcjX86Encode is liblzma's x86 BCJ encoder (simple/x86.c) over a whole
// buffer starting at stream position 0: relative CALL/JMP targets become
// absolute. The last 4 bytes are never converted, as in the filter.
func bcjX86Encode(in []byte) []byte {
	buf := bytes.Clone(in)
	if len(buf) < 5 {
		return buf
	}
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	bitNumber := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	test := func(b byte) bool { return b == 0 || b == 0xff }
	var prevMask uint32
	prevPos := ^uint32(0) - 4 // (uint32)-5
	for pos := 0; pos <= len(buf)-5; {
		b := buf[pos]
		if b != 0xe8 && b != 0xe9 {
			pos++
			continue
		}
		offset := uint32(pos) - prevPos
		prevPos = uint32(pos)
		if offset > 5 {
			prevMask = 0
		} else {
			for i := uint32(0); i < offset; i++ {
				prevMask &= 0x77
				prevMask <<= 1
			}
		}
		b = buf[pos+4]
		if test(b) && allowed[(prevMask>>1)&7] && prevMask>>1 < 0x10 {
			src := binary.LittleEndian.Uint32(buf[pos+1:])
			var dest uint32
			for {
				dest = src + uint32(pos) + 5
				if prevMask == 0 {
					break
				}
				i := bitNumber[prevMask>>1]
				if !test(byte(dest >> (24 - i*8))) {
					break
				}
				src = dest ^ (1<<(32-i*8) - 1)
			}
			binary.LittleEndian.PutUint32(buf[pos+1:], dest&0x00ffffff|uint32(^(((dest>>24)&1)-1))<<24)
			pos += 5
			prevMask = 0
		} else {
			pos++
			prevMask |= 1
			if test(b) {
				prevMask |= 0x10
			}
		}
	}
	return buf
}
