package guestimage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/cavaliergopher/cpio"
)

func TestWriteInitramfs(t *testing.T) {
	content := initramfsContent{
		Agent:   []byte("#!/bin/sh\necho agent\n"),
		Busybox: makeStaticBinary(t, "busybox"),
		Applets: []string{"[", "insmod", "mount", "sh"},
		Modules: []moduleBlob{{Name: "virtio_ring", Data: []byte("ring")}, {Name: "virtio", Data: []byte("virtio!")}},
	}
	path := filepath.Join(t.TempDir(), fileInitramfs)
	var buf bytes.Buffer
	if err := writeInitramfs(&buf, content); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("070701")) {
		t.Errorf("initramfs starts %q, want an uncompressed newc header (070701)", buf.Bytes()[:6])
	}
	entries := readInitramfs(t, path)

	want := map[string]struct {
		mode cpio.FileMode
		body string
		link string
	}{
		"init":                   {cpio.TypeReg | 0o755, string(content.Agent), ""},
		"bin/busybox":            {cpio.TypeReg | 0o755, string(content.Busybox), ""},
		"bin/[":                  {cpio.TypeSymlink | 0o777, "", "busybox"},
		"bin/sh":                 {cpio.TypeSymlink | 0o777, "", "busybox"},
		"bin/insmod":             {cpio.TypeSymlink | 0o777, "", "busybox"},
		"modules/virtio_ring.ko": {cpio.TypeReg | 0o644, "ring", ""},
		"modules/virtio.ko":      {cpio.TypeReg | 0o644, "virtio!", ""},
		"modules/load-order":     {cpio.TypeReg | 0o644, "virtio_ring.ko\nvirtio.ko\n", ""},
		"dev":                    {cpio.TypeDir | 0o755, "", ""},
		"usr/sbin":               {cpio.TypeDir | 0o755, "", ""},
	}
	for name, w := range want {
		e, ok := entries[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if e.mode != w.mode || string(e.body) != w.body || e.link != w.link {
			t.Errorf("%s = mode %v body %q link %q; want mode %v body %q link %q", name, e.mode, e.body, e.link, w.mode, w.body, w.link)
		}
	}
	for _, d := range initramfsDirs() {
		if !entries[d].mode.IsDir() {
			t.Errorf("directory %s missing", d)
		}
	}
	wantCount := len(initramfsDirs()) + 2 + len(content.Applets) + len(content.Modules) + 1
	if len(entries) != wantCount {
		t.Errorf("%d entries, want %d", len(entries), wantCount)
	}

	// Same inputs, same bytes: no timestamps or host uids leak in.
	var again bytes.Buffer
	if err := writeInitramfs(&again, content); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("initramfs is not reproducible")
	}
}
