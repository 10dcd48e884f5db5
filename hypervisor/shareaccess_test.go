package hypervisor

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckQEMUCanRead(t *testing.T) {
	// The check runs as the account QEMU uses; in tests, "nobody" stands
	// in for libvirt-qemu: an unprivileged user that owns nothing here.
	if _, err := user.Lookup("nobody"); err != nil {
		t.Fatalf("test needs the nobody account: %v", err)
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	os.Chmod(filepath.Dir(root), 0o755)
	open := filepath.Join(root, "open")
	closedParent := filepath.Join(root, "closed")
	hidden := filepath.Join(closedParent, "inner")
	unreadable := filepath.Join(root, "unreadable")
	for _, d := range []string{open, hidden, unreadable} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(closedParent, 0o700)
	os.Chmod(unreadable, 0o700)
	// t.TempDir's own parents are world-traversable (/tmp).
	tests := []struct {
		dir    string
		errHas string
	}{
		{open, ""},
		{hidden, "chmod o+x " + closedParent},
		{unreadable, "chmod o+rx " + unreadable},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.dir), func(t *testing.T) {
			err := CheckQEMUCanRead(tt.dir, "nobody")
			if tt.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("err = %v, want ErrInvalidSpec mentioning %q", err, tt.errHas)
			}
		})
	}
	if err := CheckQEMUCanRead(hidden, "no-such-user-vmctl"); err != nil {
		t.Fatalf("unknown QEMU user must not block: %v", err)
	}
}
