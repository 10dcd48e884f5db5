package libvirtbackend

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/vmctl/vmctl/hypervisor"
)

// OpenAgent connects to the agent's virtio-serial channel. On a local
// connection it dials the unix socket libvirt created for the channel; on a
// remote one it goes through libvirt's own channel stream, so the guest is
// as reachable as the libvirt connection is.
func (b *Backend) OpenAgent(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	dom, _, err := b.owned(ctx, name)
	if err != nil {
		return nil, err
	}
	defer dom.Free()
	active, err := dom.IsActive()
	if err != nil {
		return nil, convert("open agent of "+name, err)
	}
	if !active {
		return nil, fmt.Errorf("open agent of %s: %w", name, hypervisor.ErrNotRunning)
	}
	if !IsLocal(b.uri) {
		return b.openStream(name, func(st *libvirt.Stream) error {
			return dom.OpenChannel(hypervisor.AgentChannelName, st, libvirt.DOMAIN_CHANNEL_FORCE)
		})
	}
	xmlDesc, err := dom.GetXMLDesc(0)
	if err != nil {
		return nil, convert("describe "+name, err)
	}
	path, err := hypervisor.AgentSocketPath(xmlDesc)
	if err != nil {
		return nil, fmt.Errorf("open agent of %s: %w", name, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("open agent of %s: dial %s: %w", name, path, err)
	}
	return conn, nil
}

// OpenConsole attaches to the first serial console through a libvirt stream.
func (b *Backend) OpenConsole(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	dom, _, err := b.owned(ctx, name)
	if err != nil {
		return nil, err
	}
	defer dom.Free()
	return b.openStream(name, func(st *libvirt.Stream) error {
		return dom.OpenConsole("", st, libvirt.DOMAIN_CONSOLE_FORCE)
	})
}

func (b *Backend) openStream(name string, open func(*libvirt.Stream) error) (io.ReadWriteCloser, error) {
	st, err := b.conn.NewStream(0)
	if err != nil {
		return nil, convert("new stream for "+name, err)
	}
	if err := open(st); err != nil {
		st.Free()
		return nil, convert("open stream to "+name, err)
	}
	return &stream{st: st}, nil
}

// stream adapts a blocking libvirt stream to io.ReadWriteCloser.
//
// A Recv blocked in another goroutine still uses the stream when Close runs,
// so Close aborts (which wakes it), waits for every call in flight and only
// then frees. If a call never returns, the stream is leaked rather than freed
// under it: a small leak beats a use-after-free in C.
type stream struct {
	st *libvirt.Stream

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
	once     sync.Once
	closeErr error
}

// streamDrainTimeout bounds how long Close waits for a Recv/Send to notice
// the abort.
const streamDrainTimeout = 5 * time.Second

func (s *stream) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

func (s *stream) Read(p []byte) (int, error) {
	if !s.enter() {
		return 0, net.ErrClosed
	}
	defer s.inflight.Done()
	n, err := s.st.Recv(p)
	if err != nil {
		return n, convert("channel stream recv", err)
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (s *stream) Write(p []byte) (int, error) {
	if !s.enter() {
		return 0, net.ErrClosed
	}
	defer s.inflight.Done()
	total := 0
	for total < len(p) {
		n, err := s.st.Send(p[total:])
		total += n
		if err != nil {
			return total, convert("channel stream send", err)
		}
	}
	return total, nil
}

func (s *stream) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		// Abort, not Finish: Finish waits for the guest side to drain.
		s.closeErr = s.st.Abort()
		done := make(chan struct{})
		go func() { s.inflight.Wait(); close(done) }()
		select {
		case <-done:
			s.st.Free()
		case <-time.After(streamDrainTimeout):
		}
	})
	return s.closeErr
}
