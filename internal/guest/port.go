//go:build linux

package guest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmctl/vmctl/agent"
)

const (
	// SysVirtioPorts is where the kernel lists virtio-serial ports, each
	// a directory named like its /dev node with a "name" file.
	SysVirtioPorts = "/sys/class/virtio-ports"
	// AgentPortName is the name of the port the host's agent channel
	// gives the guest.
	AgentPortName = "org.vmctl.agent.0"
	// portPollInterval paces the sysfs scan while the port has not
	// appeared yet.
	portPollInterval = 50 * time.Millisecond
	// epollBackstopMS bounds each wait for the host, in case a wakeup is
	// ever missed.
	epollBackstopMS = 1000
)

// FindPort returns the /dev path of the virtio port called name, scanning
// sysRoot (normally SysVirtioPorts) until it shows up or ctx ends.
func FindPort(ctx context.Context, sysRoot, name string) (string, error) {
	ticker := time.NewTicker(portPollInterval)
	defer ticker.Stop()
	for {
		if dev, ok := scanPorts(sysRoot, name); ok {
			return dev, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("find virtio port %q: %w", name, ctx.Err())
		case <-ticker.C:
		}
	}
}

func scanPorts(sysRoot, name string) (string, bool) {
	dirs, _ := filepath.Glob(filepath.Join(sysRoot, "*", "name"))
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err == nil && strings.TrimSpace(string(b)) == name {
			return "/dev/" + filepath.Base(filepath.Dir(p)), true
		}
	}
	return "", false
}

// PortListener serves a virtio-serial port as a sequence of connections,
// one per host connection.
//
// virtio_console semantics drive the design. read() returns 0 whenever the
// host end is closed; poll() reports POLLHUP for exactly as long as it
// stays closed, so a level-triggered wait would spin. The port fd is
// therefore registered once with an edge-triggered epoll: the kernel wakes
// the port's wait queue when the host opens or closes it and when data
// arrives, and each wakeup ends one epoll_wait. The fd is blocking (raw
// syscalls, not os.File, whose netpoller would turn an idle read into an
// immediate EOF). A blocking write waits for the host and the kernel takes
// at most 32 KiB per call.
type PortListener struct {
	fd   int
	epfd int
	// wake is an eventfd in the same epoll set, written to interrupt a
	// wait when the context ends or the listener closes.
	wake int
	// wmu serialises frames across connections as well as within one, so
	// that a write still blocked for a departed host finishes before the
	// next host's frames start.
	wmu sync.Mutex

	mu     sync.Mutex
	cur    *portConn
	closed chan struct{}
	once   sync.Once
}

var _ agent.Listener = (*PortListener)(nil)

// OpenPort opens the port device at path (a /dev/vportNpM) for serving.
func OpenPort(path string) (*PortListener, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open port %s: %w", path, err)
	}
	return NewPortListener(fd)
}

// NewPortListener serves fd, an open port device; it takes ownership of
// fd, which must be blocking.
func NewPortListener(fd int) (*PortListener, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(fd)
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	for _, ev := range []unix.EpollEvent{
		{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)},
		{Events: unix.EPOLLIN, Fd: int32(wake)},
	} {
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, int(ev.Fd), &ev); err != nil {
			_ = unix.Close(fd)
			_ = unix.Close(epfd)
			_ = unix.Close(wake)
			return nil, fmt.Errorf("epoll add: %w", err)
		}
	}
	return &PortListener{fd: fd, epfd: epfd, wake: wake, closed: make(chan struct{})}, nil
}

// wakeup interrupts a pending epoll_wait.
func (l *PortListener) wakeup() {
	var one [8]byte
	one[0] = 1 // the eventfd counter is native-endian; any non-zero value wakes it
	_, _ = unix.Write(l.wake, one[:])
}

// drainWake resets the eventfd so its level-triggered readiness clears.
func (l *PortListener) drainWake() {
	var buf [8]byte
	_, _ = unix.Read(l.wake, buf[:])
}

// Accept returns once the previous connection has read its EOF and a host
// is connected. Only one connection exists at a time: the port is a
// single byte stream.
func (l *PortListener) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	l.mu.Lock()
	prev := l.cur
	l.mu.Unlock()
	if prev != nil {
		select {
		case <-prev.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.closed:
			return nil, net.ErrClosed
		}
	}
	stop := context.AfterFunc(ctx, l.wakeup)
	defer stop()
	events := make([]unix.EpollEvent, 2)
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.closed:
			return nil, net.ErrClosed
		default:
		}
		up, err := l.hostConnected()
		if err != nil {
			return nil, err
		}
		if up {
			c := &portConn{l: l, done: make(chan struct{})}
			l.mu.Lock()
			l.cur = c
			l.mu.Unlock()
			return c, nil
		}
		// Wakeups that came since the last wait are queued on the epoll
		// instance, so none is lost between the check and the wait.
		if _, err := unix.EpollWait(l.epfd, events, epollBackstopMS); err != nil && !errors.Is(err, unix.EINTR) {
			return nil, fmt.Errorf("wait for host: %w", err)
		}
		l.drainWake()
	}
}

func (l *PortListener) hostConnected() (bool, error) {
	fds := []unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll port: %w", err)
		}
		return fds[0].Revents&unix.POLLHUP == 0, nil
	}
}

// Close stops Accept. The fds stay open: a read blocked in the kernel
// cannot be interrupted, and closing under it would let the number be
// reused. The agent owns the port for its whole life anyway.
func (l *PortListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.wakeup()
	})
	return nil
}

// portConn is one host connection on the port.
type portConn struct {
	l        *PortListener
	done     chan struct{} // closed when Read has seen the end
	doneOnce sync.Once
	closed   atomic.Bool
}

func (c *portConn) finish() { c.doneOnce.Do(func() { close(c.done) }) }

func (c *portConn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		c.finish()
		return 0, net.ErrClosed
	}
	for {
		n, err := unix.Read(c.l.fd, p)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			c.finish()
			return 0, fmt.Errorf("read port: %w", err)
		case n == 0 && len(p) > 0:
			// The host closed its end.
			c.finish()
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write writes all of p unless the connection ends first; once the host
// has gone the rest of a frame is dropped so the next host starts clean.
func (c *portConn) Write(p []byte) (int, error) {
	c.l.wmu.Lock()
	defer c.l.wmu.Unlock()
	written := 0
	for written < len(p) {
		if c.closed.Load() || c.ended() {
			return written, net.ErrClosed
		}
		n, err := unix.Write(c.l.fd, p[written:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return written, fmt.Errorf("write port: %w", err)
		}
		written += n
	}
	return written, nil
}

func (c *portConn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Close marks the connection closed. Accept still waits for the reader to
// see EOF, since only then can the next host's bytes be told apart.
func (c *portConn) Close() error {
	c.closed.Store(true)
	return nil
}
