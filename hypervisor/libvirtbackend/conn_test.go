package libvirtbackend

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/vmctl/vmctl/hypervisor"
)

// dialer counts connection attempts and fails them while down is set.
type dialer struct {
	mu       sync.Mutex
	down     bool
	block    chan struct{} // when non-nil, dials wait for it
	times    []time.Time
	inFlight int32
	maxIn    int32
}

func (d *dialer) dial(uri string) (*libvirt.Connect, error) {
	n := atomic.AddInt32(&d.inFlight, 1)
	defer atomic.AddInt32(&d.inFlight, -1)
	for {
		m := atomic.LoadInt32(&d.maxIn)
		if n <= m || atomic.CompareAndSwapInt32(&d.maxIn, m, n) {
			break
		}
	}
	d.mu.Lock()
	d.times = append(d.times, time.Now())
	down, block := d.down, d.block
	d.mu.Unlock()
	if block != nil {
		<-block
	}
	if down {
		return nil, errors.New("connection refused (test)")
	}
	return libvirt.NewConnect(uri)
}

func (d *dialer) set(down bool) {
	d.mu.Lock()
	d.down = down
	d.mu.Unlock()
}

func (d *dialer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.times)
}

func openWith(t *testing.T, d *dialer, opts ...Option) *Backend {
	t.Helper()
	b, err := Open(context.Background(), "test:///default", append([]Option{withDialer(d.dial)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// current is the backend's live session (the test stands in for libvirt's
// close callback by marking it dead).
func current(t *testing.T, b *Backend) *session {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur == nil {
		t.Fatal("no live session")
	}
	return b.cur
}

func TestReconnectsAfterTheConnectionDies(t *testing.T) {
	ctx := context.Background()
	d := &dialer{}
	b := openWith(t, d)
	first := current(t, b)
	// What the close callback does when libvirtd restarts.
	first.markDead("libvirtd closed the connection (test)")
	if _, err := b.Host(ctx); err != nil {
		t.Fatalf("call after the connection died: %v", err)
	}
	if got := d.count(); got != 2 {
		t.Fatalf("dials = %d, want 2 (the first and one reconnect)", got)
	}
	if second := current(t, b); second == first || second.gen != 2 {
		t.Fatalf("session not replaced: gen %d", second.gen)
	}
	// The dead session is closed (in the background) once nothing uses it.
	deadline := time.Now().Add(2 * time.Second)
	for {
		first.mu.Lock()
		closed := first.closed
		first.mu.Unlock()
		if closed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead connection was not closed within 2 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestIdempotentCallsRetryOnceOnAFreshConnection(t *testing.T) {
	lost := libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Domain: libvirt.FROM_RPC, Message: "client socket is closed"}
	for _, tc := range []struct {
		name      string
		r         retry
		failures  int
		wantCalls int
		wantDials int
		wantLost  bool
	}{
		{"idempotent, one failure: retried and done", idempotent, 1, 2, 2, false},
		{"idempotent, fails again: retried once only", idempotent, 2, 2, 3, true},
		{"non-idempotent: not retried, ErrConnectionLost", once, 1, 1, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &dialer{}
			b := openWith(t, d)
			calls := 0
			err := b.do(context.Background(), tc.r, func(*libvirt.Connect) error {
				calls++
				if calls <= tc.failures {
					return lost
				}
				return nil
			})
			if calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tc.wantCalls)
			}
			if got := errors.Is(err, hypervisor.ErrConnectionLost); got != tc.wantLost {
				t.Errorf("err = %v; ErrConnectionLost %v, want %v", err, got, tc.wantLost)
			}
			if tc.wantLost {
				var lerr libvirt.Error
				if !errors.As(err, &lerr) || lerr.Code != libvirt.ERR_INTERNAL_ERROR {
					t.Errorf("the libvirt error is not in the chain: %v", err)
				}
			}
			// A later call reconnects if needed; the count includes it.
			if _, err := b.Host(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := d.count(); got != tc.wantDials {
				t.Errorf("dials = %d, want %d", got, tc.wantDials)
			}
		})
	}
}

func TestOperationErrorsDoNotReconnect(t *testing.T) {
	d := &dialer{}
	b := openWith(t, d)
	if _, err := b.Lookup(context.Background(), "no-such-vm"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("lookup: %v, want ErrNotFound", err)
	}
	var lerr libvirt.Error
	if _, err := b.Lookup(context.Background(), "no-such-vm"); !errors.As(err, &lerr) || lerr.Code != libvirt.ERR_NO_DOMAIN {
		t.Fatalf("the libvirt error must stay in the chain: %v", err)
	}
	if d.count() != 1 {
		t.Fatalf("dials = %d: a missing domain is not a dead connection", d.count())
	}
}

func TestReconnectBackoffIsCappedAndBoundedByContext(t *testing.T) {
	d := &dialer{}
	const initial, maxWait = 20 * time.Millisecond, 80 * time.Millisecond
	b := openWith(t, d, WithReconnectBackoff(initial, maxWait))
	d.set(true)
	current(t, b).markDead("test")
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	_, err := b.Host(ctx)
	if !errors.Is(err, hypervisor.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnreachable and DeadlineExceeded", err)
	}
	d.mu.Lock()
	times := append([]time.Time(nil), d.times[1:]...) // after the first connect
	d.mu.Unlock()
	if len(times) < 5 {
		t.Fatalf("only %d reconnect attempts in 800 ms with a %v cap", len(times), maxWait)
	}
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		// The cap plus its 20% jitter plus scheduling slack; without the
		// cap the gaps would reach 160, 320, 640 ms.
		if gap > maxWait*12/10+60*time.Millisecond {
			t.Errorf("attempt %d came %v after the previous one; the cap is %v", i, gap, maxWait)
		}
	}
	if gap := times[1].Sub(times[0]); gap > initial*12/10+40*time.Millisecond {
		t.Errorf("second attempt after %v, want about %v", gap, initial)
	}
	// The daemon comes back: the next call connects.
	d.set(false)
	if _, err := b.Host(context.Background()); err != nil {
		t.Fatalf("after the daemon came back: %v", err)
	}
}

func TestAHungDialIsBoundedAndNeverDoubled(t *testing.T) {
	d := &dialer{}
	b := openWith(t, d, WithDialTimeout(50*time.Millisecond), WithReconnectBackoff(5*time.Millisecond, 5*time.Millisecond))
	release := make(chan struct{})
	d.mu.Lock()
	d.block = release
	d.mu.Unlock()
	current(t, b).markDead("test")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = b.Host(ctx)
		}(i)
	}
	wg.Wait()
	close(release)
	for i, err := range errs {
		if !errors.Is(err, hypervisor.ErrUnreachable) {
			t.Errorf("caller %d: %v, want ErrUnreachable", i, err)
		}
	}
	if m := atomic.LoadInt32(&d.maxIn); m != 1 {
		t.Errorf("%d dials in flight at once, want 1: a hung dial is waited for, not doubled", m)
	}
	b.mu.Lock()
	last := b.lastErr
	b.mu.Unlock()
	if last == nil || !strings.Contains(last.Error(), "no answer within") {
		t.Errorf("last dial error = %v, want the dial timeout", last)
	}
}

func TestClosedBackendRefusesCalls(t *testing.T) {
	b := openWith(t, &dialer{})
	b.Close()
	if _, err := b.Host(context.Background()); !errors.Is(err, errBackendClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}

func TestReconnectsInTheBackgroundWithoutACaller(t *testing.T) {
	d := &dialer{}
	b := openWith(t, d, WithReconnectBackoff(5*time.Millisecond, 20*time.Millisecond))
	first := current(t, b)
	d.set(true)
	// What libvirt's close callback does: mark it dead and drop it.
	b.markDead(first, "test")
	time.Sleep(60 * time.Millisecond)
	d.set(false)
	deadline := time.Now().Add(2 * time.Second)
	for {
		b.mu.Lock()
		s := b.cur
		b.mu.Unlock()
		if s != nil && s != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconnection within 2 s of the daemon returning (%d dials)", d.count())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d.count() < 3 {
		t.Fatalf("dials = %d: the background loop should have retried while the daemon was down", d.count())
	}
}
