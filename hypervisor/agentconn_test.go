package hypervisor_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/hypervisor"
)

// TestAgentHandshakeFailuresEndAtTheBudget: a guest that fails every
// handshake at once (garbage without the frame magic, or hanging up) is
// retried until Timeouts.Handshake, not in a tight loop, and the error
// says how the guest failed. The retries once doubled their bound on every fast
// failure until it overflowed, and reported "dial: context deadline
// exceeded" after 33 attempts.
func TestAgentHandshakeFailuresEndAtTheBudget(t *testing.T) {
	tests := []struct {
		name  string
		guest func(guestEnd net.Conn)
		// wantErr, if set, is how the guest failed. In every case the
		// error says that rather than the deadline that ended the last
		// attempt.
		wantErr error
	}{
		{"garbage", func(g net.Conn) {
			go func() { _, _ = io.Copy(io.Discard, g) }()
			junk := bytes.Repeat([]byte("A"), 64<<10)
			for {
				if _, err := g.Write(junk); err != nil {
					return
				}
			}
		}, agent.ErrBadMagic},
		// Closed before or after the hello is sent: either way a hang-up.
		{"hangs up", func(g net.Conn) { g.Close() }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.mgr.Create(context.Background(), e.req("g")); err != nil {
				t.Fatal(err)
			}
			var dials atomic.Int32
			e.fake.AgentConn = func(string) (io.ReadWriteCloser, error) {
				dials.Add(1)
				host, guestEnd := net.Pipe()
				go tt.guest(guestEnd)
				return host, nil
			}
			const budget = time.Second
			m, err := hypervisor.NewManager(e.fake, hypervisor.Config{StateDir: t.TempDir(), Timeouts: hypervisor.Timeouts{Handshake: budget}})
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			c, err := m.Agent(context.Background(), "g")
			took := time.Since(began)
			if err == nil {
				c.Close()
				t.Fatal("the handshake passed")
			}
			if !errors.Is(err, agent.ErrHandshake) || errors.Is(err, context.DeadlineExceeded) ||
				tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v: want agent.ErrHandshake (and %v), not the deadline", err, tt.wantErr)
			}
			if took < budget/2 || took > 3*budget {
				t.Errorf("gave up after %s; the handshake budget is %s", took, budget)
			}
			if n := dials.Load(); n < 2 || n > 40 {
				t.Errorf("%d connections in %s: want retries while the budget lasts, paced", n, took)
			}
		})
	}
}
