package workload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIOWritesSyncsAndRemoves(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name      string
		path      string
		args      map[string]string
		wantBytes int64
		wantSyncs int64
	}{
		{"in a directory, fsync at the end", dir, map[string]string{"mib": "3", "block-kib": "64"}, 3 << 20, 1},
		{"new file, fsync every MiB", filepath.Join(dir, "new.dat"), map[string]string{"mib": "3", "block-kib": "100", "fsync-every-mib": "1"}, 3 << 20, 3},
		{"short last block", filepath.Join(dir, "odd.dat"), map[string]string{"mib": "1", "block-kib": "300", "fsync-every-mib": "2"}, 1 << 20, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.args["path"] = tt.path
			res := mustRun(t, "io", tt.args, nil)
			if res.Bytes != tt.wantBytes || res.Value <= 0 || res.Ops != tt.wantSyncs || res.Unit != UnitMBps {
				t.Errorf("result %+v, want %d bytes written with %d fsyncs", res, tt.wantBytes, tt.wantSyncs)
			}
			left, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 0 {
				t.Errorf("left behind %v", left)
			}
		})
	}
}

func TestIORefuses(t *testing.T) {
	existing := filepath.Join(t.TempDir(), "keep.dat")
	if err := os.WriteFile(existing, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, wantKey string
		args          map[string]string
	}{
		{"existing regular file", "--path", map[string]string{"path": existing}},
		{"device flag on a file", "--device", map[string]string{"path": filepath.Join(t.TempDir(), "x"), "device": "true"}},
		{"character device", "--path", map[string]string{"path": os.DevNull}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), "io", tt.args, nil)
			if !errors.Is(err, ErrBadArgument) || !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error = %v, want ErrBadArgument naming %s", err, tt.wantKey)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "precious" {
		t.Errorf("existing file changed to %q", b)
	}
}

// TestIORefusesBlockDeviceWithoutFlag needs a block device to point at;
// it only stats it and never opens it for writing.
func TestIORefusesBlockDeviceWithoutFlag(t *testing.T) {
	dev := firstBlockDevice(t)
	_, err := Run(context.Background(), "io", map[string]string{"path": dev, "mib": "1"}, nil)
	if !errors.Is(err, ErrBadArgument) || !strings.Contains(err.Error(), "--device") {
		t.Errorf("error = %v, want a refusal that points at --device", err)
	}
}

func firstBlockDevice(t *testing.T) string {
	t.Helper()
	entries, _ := os.ReadDir("/dev")
	for _, e := range entries {
		if e.Type()&os.ModeDevice != 0 && e.Type()&os.ModeCharDevice == 0 {
			return filepath.Join("/dev", e.Name())
		}
	}
	t.Skip("no block device in /dev")
	return ""
}

func TestIOCanceledRemovesFile(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, "io", map[string]string{"path": dir}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind %v", left)
	}
}
