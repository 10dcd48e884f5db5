//go:build linux

package guest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// writePorts makes a fake sysfs port directory with a name file for each
// entry of ports (directory -> name).
func writePorts(root string, ports map[string]string) error {
	for dir, name := range ports {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, dir, "name"), []byte(name), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func TestFindPort(t *testing.T) {
	tests := []struct {
		name    string
		ports   map[string]string // sysfs dir -> name
		late    map[string]string // appear after 100 ms
		want    string
		wantErr error
	}{
		{
			name:  "picks the port by name",
			ports: map[string]string{"vport0p1": "org.qemu.guest_agent.0\n", "vport0p2": "org.vmctl.agent.0\n"},
			want:  "/dev/vport0p2",
		},
		{
			name: "waits for the port to appear",
			late: map[string]string{"vport1p1": "org.vmctl.agent.0\n"},
			want: "/dev/vport1p1",
		},
		{
			name:    "gives up at the deadline",
			ports:   map[string]string{"vport0p1": "something.else\n"},
			wantErr: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := writePorts(root, tt.ports); err != nil {
				t.Fatal(err)
			}
			if tt.late != nil {
				timer := time.AfterFunc(100*time.Millisecond, func() { _ = writePorts(root, tt.late) })
				defer timer.Stop()
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			got, err := FindPort(ctx, root, AgentPortName)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("FindPort = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// cpuTime is the CPU this process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPortListener stands in a socketpair for the port: like a virtio
// port whose host has left, a socket whose peer closed reads 0 and polls
// POLLHUP for good.
func TestPortListener(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	host := os.NewFile(uintptr(fds[1]), "host")
	defer host.Close()
	l, err := NewPortListener(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := l.Accept(ctx)
	if err != nil {
		t.Fatalf("accept with the host connected: %v", err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16)
	wrote := make(chan error, 1)
	go func() {
		_, err := conn.Write(big)
		wrote <- err
	}()
	got := make([]byte, len(big))
	if _, err := io.ReadFull(host, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("host read of a write larger than one kernel chunk: %v", err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, err := host.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read = %q, %v", buf[:n], err)
	}
	_ = host.Close()
	if _, err := conn.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("read after the host left = %v, want EOF", err)
	}
	if _, err := conn.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after EOF = %v, want net.ErrClosed", err)
	}

	// With the host gone Accept must wait, not spin on POLLHUP.
	before := cpuTime(t)
	// The clock starts before the deadline is set, so the wait measured
	// can only be longer than the timeout, never shorter.
	began := time.Now()
	wctx, wcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer wcancel()
	if _, err := l.Accept(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("accept without a host = %v, want deadline", err)
	}
	// Sooner than the epoll backstop: the context's end wakes the wait.
	if waited := time.Since(began); waited < 300*time.Millisecond || waited > 900*time.Millisecond {
		t.Errorf("accept returned after %v", waited)
	}
	if used := cpuTime(t) - before; used > 150*time.Millisecond {
		t.Errorf("accept burned %v of CPU while waiting: it is spinning", used)
	}

	// Close interrupts a waiting Accept at once.
	accepted := make(chan error, 1)
	go func() {
		_, err := l.Accept(context.Background())
		accepted <- err
	}()
	time.Sleep(100 * time.Millisecond)
	_ = l.Close()
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("accept after close = %v", err)
		}
	case <-time.After(500 * time.Millisecond):
		t.Error("close did not interrupt accept")
	}
}
