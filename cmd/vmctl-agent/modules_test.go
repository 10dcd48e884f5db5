//go:build linux

package main

import (
	"context"
	"io"
	"log"
	"path/filepath"
	"slices"
	"testing"
)

func TestReadLoadOrder(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
		wantErr bool
	}{
		{"names in order", "virtio.ko\nvirtio_ring.ko\nvirtio_console.ko.xz\n", []string{"virtio.ko", "virtio_ring.ko", "virtio_console.ko.xz"}, false},
		{"blank lines and comments", "\n# deps first\n 9p.ko \n\n", []string{"9p.ko"}, false},
		{"paths refused", "../../etc/evil.ko\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "load-order")
			writeFile(t, path, tt.content)
			got, err := readLoadOrder(path)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q, err=%v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestLoadModulesKeepsGoing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "load-order"), "missing.ko\nnot-a-module.ko\n")
	// Not ELF: finit_module refuses it (or we lack the right to try).
	writeFile(t, filepath.Join(dir, "not-a-module.ko"), "garbage")
	loaded, failed := loadModules(context.Background(), log.New(io.Discard, "", 0), dir)
	if loaded != 0 || failed != 2 {
		t.Errorf("loaded %d failed %d, want 0 and 2", loaded, failed)
	}
	if loaded, failed := loadModules(context.Background(), log.New(io.Discard, "", 0), t.TempDir()); loaded != 0 || failed != 0 {
		t.Errorf("without a load-order file: loaded %d failed %d", loaded, failed)
	}
}

func TestIsCompressedModule(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"virtio.ko", false},
		{"virtio.ko.xz", true},
		{"virtio.ko.zst", true},
		{"virtio.ko.gz", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isCompressedModule(tt.name); got != tt.want {
				t.Errorf("isCompressedModule(%q) = %v", tt.name, got)
			}
		})
	}
}
