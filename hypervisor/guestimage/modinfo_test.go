package guestimage

import (
	"bytes"
	"debug/elf"
	"slices"
	"testing"
)

func TestParseModinfo(t *testing.T) {
	tests := []struct {
		name string
		data string
		want moduleInfo
	}{
		{"name and deps", "license=GPL\x00depends=virtio,virtio_ring\x00name=virtio_net\x00", moduleInfo{Name: "virtio_net", Depends: []string{"virtio", "virtio_ring"}}},
		{"no deps", "depends=\x00name=virtio_ring\x00", moduleInfo{Name: "virtio_ring"}},
		{"dashes normalised", "name=virtio-rng\x00depends=virtio-ring\x00", moduleInfo{Name: "virtio_rng", Depends: []string{"virtio_ring"}}},
		{"padding and junk ignored", "\x00\x00garbage\x00name=a\x00\x00\x00alias=foo=bar\x00", moduleInfo{Name: "a"}},
		{"no name", "depends=b\x00", moduleInfo{Depends: []string{"b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseModinfo([]byte(tt.data))
			if got.Name != tt.want.Name || !slices.Equal(got.Depends, tt.want.Depends) {
				t.Errorf("parseModinfo = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadModinfo(t *testing.T) {
	info, err := readModinfo(bytes.NewReader(makeModule(t, "9pnet_virtio", "virtio", "9pnet", "virtio_ring")))
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "9pnet_virtio" || !slices.Equal(info.Depends, []string{"virtio", "9pnet", "virtio_ring"}) {
		t.Errorf("readModinfo = %+v", info)
	}

	noModinfo := makeELF(t, elfSpec{typ: elf.ET_REL, sections: []elfSection{{name: ".text", data: []byte{0xc3}}}})
	if _, err := readModinfo(bytes.NewReader(noModinfo)); err == nil {
		t.Error("module without .modinfo: want error")
	}
	if _, err := readModinfo(bytes.NewReader([]byte("not an elf at all"))); err == nil {
		t.Error("non-ELF: want error")
	}
}

func TestModuleNameFromPath(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/char/hw_random/virtio-rng.ko": "virtio_rng",
		"lib/modules/x/kernel/fs/9p/9p.ko.xz":         "9p",
		"virtio_net.ko.zst":                           "virtio_net",
		"kernel/drivers/char/mem.ko":                  "mem",
	} {
		if got := moduleNameFromPath(in); got != want {
			t.Errorf("moduleNameFromPath(%q) = %q, want %q", in, got, want)
		}
	}
}
