package guestimage

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

func TestPruneKeepsCurrentAndInUse(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc", "debs", "notanimage"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("aaaaaaaaaaaaaaaa", filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	removed, err := Prune(context.Background(), root, []string{filepath.Join(root, "bbbbbbbbbbbbbbbb")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || filepath.Base(removed[0]) != "cccccccccccccccc" {
		t.Fatalf("removed %v, want only the unused image", removed)
	}
	entries, _ := os.ReadDir(root)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	want := []string{".lock", "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "current", "debs", "notanimage"}
	if len(names) != len(want) {
		t.Fatalf("left %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("left %v, want %v", names, want)
		}
	}
}
