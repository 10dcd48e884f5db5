package hypervisor_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmctl/vmctl/hypervisor"
)

func TestQEMUPidReadsLibvirtsPidFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// libvirt writes the pid without a trailing newline; accept both.
	write("vm-a.pid", "4242")
	write("vm-b.pid", "17\n")
	write("vm-empty.pid", "")
	write("vm-junk.pid", "not-a-pid")
	write("vm-zero.pid", "0")

	tests := []struct {
		name    string
		vm      string
		want    int
		wantErr error
		anyErr  bool
	}{
		{name: "pid without newline", vm: "vm-a", want: 4242},
		{name: "pid with newline", vm: "vm-b", want: 17},
		{name: "no pid file means not running", vm: "vm-missing", wantErr: hypervisor.ErrNotRunning},
		{name: "empty file", vm: "vm-empty", anyErr: true},
		{name: "garbage", vm: "vm-junk", anyErr: true},
		{name: "zero is no process", vm: "vm-zero", anyErr: true},
		{name: "name that would leave the directory", vm: "../etc/passwd", wantErr: hypervisor.ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hypervisor.QEMUPid(dir, tt.vm)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("QEMUPid(%q) error = %v, want %v", tt.vm, err, tt.wantErr)
				}
			case tt.anyErr:
				if err == nil {
					t.Fatalf("QEMUPid(%q) = %d, want an error", tt.vm, got)
				}
			default:
				if err != nil || got != tt.want {
					t.Fatalf("QEMUPid(%q) = %d, %v; want %d", tt.vm, got, err, tt.want)
				}
			}
		})
	}
}

func TestQEMUPidDirOnlyForLocalSystem(t *testing.T) {
	tests := []struct {
		uri string
		ok  bool
	}{
		{"qemu:///system", true},
		{"qemu+ssh://host2/system", false},
		{"qemu+tcp://10.0.0.2/system", false},
		{"qemu:///session", false},
		{"test:///default", false},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			dir, err := hypervisor.QEMUPidDir(tt.uri)
			if tt.ok {
				if err != nil || dir != hypervisor.QEMURunDir {
					t.Fatalf("QEMUPidDir(%q) = %q, %v; want %q", tt.uri, dir, err, hypervisor.QEMURunDir)
				}
				return
			}
			if !errors.Is(err, hypervisor.ErrInvalidSpec) {
				t.Fatalf("QEMUPidDir(%q) error = %v, want ErrInvalidSpec", tt.uri, err)
			}
		})
	}
}
