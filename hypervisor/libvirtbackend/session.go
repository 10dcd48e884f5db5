package libvirtbackend

import (
	"sync"

	"libvirt.org/go/libvirt"
)

// session is one libvirt connection. A Backend replaces its session when
// the connection dies; calls already running on the old one keep it until
// they return, and it is closed only once the last of them has.
type session struct {
	conn *libvirt.Connect
	// gen counts the backend's connections (1 for the first), for logs.
	gen uint64

	mu      sync.Mutex
	dead    bool
	why     string
	deadCh  chan struct{}
	users   int
	retired bool
	closed  bool
	streams map[*stream]struct{}
}

func newSession(conn *libvirt.Connect, gen uint64) *session {
	return &session{conn: conn, gen: gen, deadCh: make(chan struct{}), streams: map[*stream]struct{}{}}
}

// markDead records that the connection is gone (libvirt's close callback,
// a keepalive timeout, or a call that failed on a dead socket) and ends
// every stream on it. It makes no libvirt call: the close callback runs it
// on the event loop's thread.
func (s *session) markDead(why string) {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.dead, s.why = true, why
	close(s.deadCh)
	streams := make([]*stream, 0, len(s.streams))
	for st := range s.streams {
		streams = append(streams, st)
	}
	s.mu.Unlock()
	for _, st := range streams {
		st.connectionLost(why)
	}
}

func (s *session) isDead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

func (s *session) reason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.why
}

// alive asks libvirt whether the connection still works. It is a local
// check (no round trip), cheap enough to run after every failed call.
func (s *session) alive() bool {
	if s.isDead() {
		return false
	}
	ok, err := s.conn.IsAlive()
	return err == nil && ok
}

func (s *session) enter() {
	s.mu.Lock()
	s.users++
	s.mu.Unlock()
}

// leave ends one call; the last call out of a retired session closes it.
func (s *session) leave() {
	s.mu.Lock()
	s.users--
	closeNow := s.retired && s.users == 0 && !s.closed
	if closeNow {
		s.closed = true
	}
	s.mu.Unlock()
	if closeNow {
		s.close()
	}
}

// retire takes the session out of use; it closes when its calls are done.
func (s *session) retire() {
	s.mu.Lock()
	s.retired = true
	closeNow := s.users == 0 && !s.closed
	if closeNow {
		s.closed = true
	}
	s.mu.Unlock()
	if closeNow {
		s.close()
	}
}

func (s *session) close() {
	// Unregister first: the callback must not outlive the connection.
	_ = s.conn.UnregisterCloseCallback()
	_, _ = s.conn.Close()
}

func (s *session) addStream(st *stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return false
	}
	s.streams[st] = struct{}{}
	return true
}

func (s *session) removeStream(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, st)
}
