package libvirtbackend

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"libvirt.org/go/libvirt"

	"github.com/vmctl/vmctl/hypervisor"
)

// stream adapts a nonblocking libvirt stream to io.ReadWriteCloser.
//
// Why nonblocking: a blocking virStreamRecv holds the connection's I/O
// (libvirt's client "buck") while it waits for data, and with the event
// loop registered a virStreamSend from another thread then waits for the
// loop's next wakeup: the keepalive timer, 5 s later. Measured on libvirt
// 9.0 over TCP: the agent's hello took 5.003 s to leave in about one
// connection in five. With a nonblocking stream no thread waits inside
// libvirt: the event loop reads the socket and calls back when data is
// queued, Recv and Send return at once, and the waiting happens here, on
// Go channels.
type stream struct {
	st   *libvirt.Stream
	sess *session
	b    *Backend
	what string // "agent channel of NAME", for errors
	ev   *streamEvents

	// mu is held (shared) by every libvirt call on st and (exclusive) by
	// Close while it frees st: a call never runs on a freed stream.
	mu       sync.RWMutex
	freed    bool
	done     chan struct{}
	doneOnce sync.Once
	lostWhy  string
	wmu      sync.Mutex // one writer waits for WRITABLE at a time
	once     sync.Once
}

// streamEvents is all the event callback keeps: libvirt's Go binding never
// releases a stream callback, so it must not pin the stream itself.
type streamEvents struct {
	readable chan struct{}
	writable chan struct{}
}

func (e *streamEvents) on(_ *libvirt.Stream, ev libvirt.StreamEventType) {
	if ev&(libvirt.STREAM_EVENT_READABLE|libvirt.STREAM_EVENT_ERROR|libvirt.STREAM_EVENT_HANGUP) != 0 {
		signal(e.readable)
	}
	if ev&(libvirt.STREAM_EVENT_WRITABLE|libvirt.STREAM_EVENT_ERROR|libvirt.STREAM_EVENT_HANGUP) != 0 {
		signal(e.writable)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

const readEvents = libvirt.STREAM_EVENT_READABLE | libvirt.STREAM_EVENT_ERROR | libvirt.STREAM_EVENT_HANGUP

func newStream(b *Backend, sess *session, st *libvirt.Stream, what string) (*stream, error) {
	s := &stream{st: st, sess: sess, b: b, what: what, done: make(chan struct{}),
		ev: &streamEvents{readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}}
	if err := st.EventAddCallback(readEvents, s.ev.on); err != nil {
		return nil, convert("watch "+what, err)
	}
	if !sess.addStream(s) {
		_ = st.EventRemoveCallback()
		return nil, fmt.Errorf("%s: %w: %s", what, hypervisor.ErrConnectionLost, sess.reason())
	}
	return s, nil
}

// connectionLost wakes every waiter: the connection under the stream died.
func (s *stream) connectionLost(why string) {
	s.doneOnce.Do(func() {
		s.lostWhy = why
		close(s.done)
	})
}

// ended returns why the stream can no longer be used.
func (s *stream) ended() error {
	if s.lostWhy != "" {
		return fmt.Errorf("%s: %w: %s", s.what, hypervisor.ErrConnectionLost, s.lostWhy)
	}
	return net.ErrClosed
}

func (s *stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		s.mu.RLock()
		if s.freed {
			s.mu.RUnlock()
			return 0, net.ErrClosed
		}
		n, err := s.st.Recv(p)
		s.mu.RUnlock()
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, io.EOF):
			return 0, io.EOF
		case !isAgain(err):
			return 0, convert(s.what+": recv", err)
		}
		select {
		case <-s.ev.readable:
		case <-s.done:
			return 0, s.ended()
		}
	}
}

func (s *stream) Write(p []byte) (int, error) {
	total := 0
	for total < len(p) {
		s.mu.RLock()
		if s.freed {
			s.mu.RUnlock()
			return total, net.ErrClosed
		}
		n, err := s.st.Send(p[total:])
		s.mu.RUnlock()
		if err == nil {
			total += n
			continue
		}
		if !isAgain(err) {
			return total, convert(s.what+": send", err)
		}
		if err := s.waitWritable(); err != nil {
			return total, err
		}
	}
	return total, nil
}

// waitWritable asks the event loop for WRITABLE until the stream is.
// Only while a write is blocked: a writable stream would otherwise call
// back on every loop iteration.
func (s *stream) waitWritable() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	if s.freed {
		s.mu.RUnlock()
		return net.ErrClosed
	}
	err := s.st.EventUpdateCallback(readEvents | libvirt.STREAM_EVENT_WRITABLE)
	s.mu.RUnlock()
	if err != nil {
		return convert(s.what+": watch for writable", err)
	}
	defer func() {
		s.mu.RLock()
		if !s.freed {
			_ = s.st.EventUpdateCallback(readEvents)
		}
		s.mu.RUnlock()
	}()
	select {
	case <-s.ev.writable:
		return nil
	case <-s.done:
		return s.ended()
	}
}

// Close ends the stream at once and releases it in the background. Waiters
// wake immediately. The abort itself is a round trip to the daemon: on a
// connection to a host that went silent it waits until keepalive gives up
// (about 30 s), and a caller closing a dead guest's channel must not wait
// for that. The free waits for calls inside libvirt, which are nonblocking.
func (s *stream) Close() error {
	s.once.Do(func() {
		s.doneOnce.Do(func() { close(s.done) })
		go s.release()
	})
	return nil
}

// release aborts (Finish would wait for the guest side to drain) and
// frees the stream, then lets its connection go.
func (s *stream) release() {
	s.mu.Lock()
	_ = s.st.EventRemoveCallback()
	if err := s.st.Abort(); err != nil && !s.sess.isDead() {
		s.b.log.WithError(err).WithField("stream", s.what).Debug("abort stream")
	}
	s.st.Free()
	s.freed = true
	s.mu.Unlock()
	s.sess.removeStream(s)
	s.sess.leave()
}
