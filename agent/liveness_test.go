package agent

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Liveness bounds for the tests: a probe after 20 ms of quiet, failure
// after 200 ms, that is after ten heartbeats.
const (
	testHeartbeat    = 20 * time.Millisecond
	testUnresponsive = 200 * time.Millisecond
)

func testLiveness() Timeouts {
	return Timeouts{Heartbeat: testHeartbeat, Unresponsive: testUnresponsive}
}

// TestLivenessSilentGuest: a guest that answers the hello and then sends
// nothing fails a pending exec with ErrUnresponsive after exactly
// Unresponsive on the client's clock, long before the exec's own timeout,
// however long the connection was idle before the exec started.
func TestLivenessSilentGuest(t *testing.T) {
	tests := []struct {
		name string
		mode pingMode
		idle time.Duration // fake time passed with no call pending first
	}{
		{name: "reads pings, never answers", mode: ignorePings},
		{name: "reads nothing after the hello", mode: readNothing},
		{name: "silent after an hour idle", mode: ignorePings, idle: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			c, g := startLivenessGuest(t, tt.mode, clk.option(), WithTimeouts(testLiveness()))
			clk.Advance(tt.idle)
			out := startExec(c, &ExecRequest{Argv: []string{"sleep", "600"}}, nil)
			if tt.mode != readNothing {
				g.request(t)
			}
			// Nine heartbeats of silence: probed, still up.
			for range testUnresponsive/testHeartbeat - 1 {
				clk.waitBeat(t, c)
				clk.Advance(testHeartbeat)
			}
			clk.waitBeat(t, c)
			if err := c.Err(); err != nil {
				t.Fatalf("failed after %v of silence: %v", testUnresponsive-testHeartbeat, err)
			}
			if tt.mode == ignorePings {
				g.waitPings(t, 1)
			}
			clk.Advance(testHeartbeat)
			o := awaitExec(t, out)
			isUnresponsive(t, o.err, "200ms")
			isUnresponsive(t, c.Err(), "200ms")
			if n := g.pings.Load(); n > 1 {
				t.Errorf("guest read %d probes, want one outstanding at a time", n)
			}
		})
	}
}

// TestLivenessSilentGuestRealClock runs the same on the real clock.
func TestLivenessSilentGuestRealClock(t *testing.T) {
	c, _ := startLivenessGuest(t, ignorePings, WithTimeouts(testLiveness()))
	began := time.Now()
	o := awaitExec(t, startExec(c, &ExecRequest{Argv: []string{"sleep", "600"}}, nil))
	took := time.Since(began)
	isUnresponsive(t, o.err, "")
	if took < testUnresponsive || took > 3*time.Second {
		t.Errorf("exec failed after %v, want about %v", took, testUnresponsive)
	}
}

// TestLivenessPingsKeepLongExecAlive: a guest silent but for answering
// pings keeps an exec running for five Unresponsive periods alive.
func TestLivenessPingsKeepLongExecAlive(t *testing.T) {
	clk := newFakeClock()
	c, g := startLivenessGuest(t, answerPings, clk.option(), WithTimeouts(testLiveness()))
	out := startExec(c, &ExecRequest{Argv: []string{"sleep", "600"}}, nil)
	req := g.request(t)
	const steps = 5 * testUnresponsive / testHeartbeat
	for range steps {
		clk.waitBeat(t, c)
		waitProbeAnswered(t, c)
		clk.Advance(testHeartbeat)
	}
	clk.waitBeat(t, c)
	if err := c.Err(); err != nil {
		t.Fatalf("connection failed while the guest answered pings: %v", err)
	}
	g.reply(req, &ExecResult{ExitCode: 3})
	o := awaitExec(t, out)
	if o.err != nil || o.res.ExitCode != 3 {
		t.Fatalf("exec = %+v, %v", o.res, o.err)
	}
	if n := g.pings.Load(); n < int32(steps)/2 {
		t.Errorf("guest answered %d probes over %d quiet heartbeats", n, steps)
	}
}

// TestLivenessOutputCountsAsLife: a guest that never answers pings but
// streams output at intervals shorter than Unresponsive is not declared
// dead, and gets one probe, not one per quiet heartbeat.
func TestLivenessOutputCountsAsLife(t *testing.T) {
	clk := newFakeClock()
	c, g := startLivenessGuest(t, ignorePings, clk.option(), WithTimeouts(testLiveness()))
	const chunks = 40 // every 3 heartbeats: 12 Unresponsive periods in all
	stdout := &notifyWriter{got: make(chan struct{}, chunks)}
	out := startExec(c, &ExecRequest{Argv: []string{"yes"}}, stdout)
	req := g.request(t)
	for i := range chunks {
		g.output(req, "y\n")
		select {
		case <-stdout.got:
		case <-time.After(5 * time.Second):
			t.Fatalf("chunk %d never reached the writer", i)
		}
		clk.waitBeat(t, c)
		clk.Advance(3 * testHeartbeat)
	}
	clk.waitBeat(t, c)
	if err := c.Err(); err != nil {
		t.Fatalf("connection failed while output flowed: %v", err)
	}
	g.reply(req, &ExecResult{})
	o := awaitExec(t, out)
	if o.err != nil || stdout.String() != strings.Repeat("y\n", chunks) {
		t.Fatalf("exec = %+v, %v, stdout %q", o.res, o.err, stdout.String())
	}
	g.waitPings(t, 1)
	if n := g.pings.Load(); n != 1 {
		t.Errorf("guest read %d probes, want the one left unanswered", n)
	}
}

// TestLivenessIdleConnection: with no call pending nothing is sent and
// silence is no error, as for a paused warm-pool guest; the connection is
// usable afterwards.
func TestLivenessIdleConnection(t *testing.T) {
	tests := []struct {
		name string
		fake bool
		idle time.Duration
	}{
		{name: "fake clock, a day", fake: true, idle: 24 * time.Hour},
		{name: "real clock, ten unresponsive periods", idle: 10 * testUnresponsive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			opts := []ClientOption{WithTimeouts(testLiveness())}
			if tt.fake {
				opts = append(opts, clk.option())
			}
			c, g := startLivenessGuest(t, answerPings, opts...)
			if tt.fake {
				for range tt.idle / time.Hour {
					clk.Advance(time.Hour)
				}
				if n := clk.armed(); n != 0 {
					t.Errorf("heartbeat armed %d timers on an idle connection", n)
				}
			} else {
				time.Sleep(tt.idle)
			}
			if err := c.Err(); err != nil {
				t.Fatalf("idle connection failed: %v", err)
			}
			if n := g.pings.Load(); n != 0 {
				t.Errorf("guest read %d probes while idle", n)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("ping after idle: %v", err)
			}
			if n := g.pings.Load(); tt.fake && n != 1 {
				t.Errorf("guest read %d pings, want only the caller's", n)
			}
		})
	}
}

// TestLivenessCloseDuringPendingCall: Close while a call is pending and
// the heartbeat is busy fails the call with ErrClosed and leaves no
// goroutine behind.
func TestLivenessCloseDuringPendingCall(t *testing.T) {
	tests := []struct {
		name string
		mode pingMode
	}{
		{name: "probes answered", mode: answerPings},
		{name: "probe unanswered", mode: ignorePings},
		{name: "writer blocked", mode: readNothing},
	}
	for _, tt := range tests {
		clients, total := clientGoroutines(), runtime.NumGoroutine()
		t.Run(tt.name, func(t *testing.T) {
			c, g := startLivenessGuest(t, tt.mode, WithTimeouts(Timeouts{Heartbeat: time.Millisecond, Unresponsive: time.Minute}))
			out := startExec(c, &ExecRequest{Argv: []string{"sleep", "600"}}, nil)
			if tt.mode == readNothing {
				time.Sleep(20 * time.Millisecond)
			} else {
				g.request(t)
				g.waitPings(t, 1)
			}
			if err := c.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			o := awaitExec(t, out)
			if !errors.Is(o.err, ErrClosed) || errors.Is(o.err, ErrUnresponsive) {
				t.Errorf("exec error = %v, want ErrClosed from Close", o.err)
			}
		})
		// The subtest's cleanup has closed the guest too.
		waitFor(t, func() bool { return clientGoroutines() <= clients }, "client goroutines to end (%d left, %d before)", clientGoroutines(), clients)
		waitFor(t, func() bool { return runtime.NumGoroutine() <= total }, "goroutines to end (%d, %d before)", runtime.NumGoroutine(), total)
	}
}

// TestLivenessRealServer: against ServeConn, which answers pings while
// an exec runs, a quiet exec lasting three Unresponsive periods
// completes.
func TestLivenessRealServer(t *testing.T) {
	tests := []struct {
		name   string
		stream bool
	}{
		{name: "buffered"},
		{name: "streamed", stream: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := servePipe(t, newRecordingHandler(), nil, WithTimeouts(Timeouts{Heartbeat: 50 * time.Millisecond, Unresponsive: 500 * time.Millisecond}))
			req := &ExecRequest{Argv: []string{"sh", "-c", "sleep 1.5; echo done"}}
			var stdout strings.Builder
			var res *ExecResult
			var err error
			if tt.stream {
				res, err = c.Exec(context.Background(), req, &stdout, nil)
			} else {
				if res, err = c.Exec(context.Background(), req, nil, nil); err == nil {
					stdout.Write(res.Stdout)
				}
			}
			if err != nil || res.ExitCode != 0 || stdout.String() != "done\n" {
				t.Fatalf("exec = %+v, %v, stdout %q", res, err, stdout.String())
			}
		})
	}
}

func TestTimeoutsValidate(t *testing.T) {
	tests := []struct {
		name    string
		t       Timeouts
		wantErr string
	}{
		{name: "zero is the defaults"},
		{name: "short liveness", t: testLiveness()},
		{name: "negative unresponsive", t: Timeouts{Unresponsive: -time.Second}, wantErr: "negative"},
		{name: "heartbeat not shorter", t: Timeouts{Heartbeat: time.Second, Unresponsive: time.Second}, wantErr: "not shorter"},
		{name: "default heartbeat above unresponsive", t: Timeouts{Unresponsive: 500 * time.Millisecond}, wantErr: "not shorter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.t.Validate()
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestLivenessProbeIsNotACall: the probe's answer is taken as life only;
// an answer for it with an error or a body changes nothing for the calls.
func TestLivenessProbeIsNotACall(t *testing.T) {
	clk := newFakeClock()
	c, g := startLivenessGuest(t, ignorePings, clk.option(), WithTimeouts(testLiveness()))
	out := startExec(c, &ExecRequest{Argv: []string{"true"}}, nil)
	req := g.request(t)
	clk.waitBeat(t, c)
	clk.Advance(testHeartbeat)
	g.waitPings(t, 1)
	c.mu.Lock()
	probe := c.probe
	c.mu.Unlock()
	if !probe.outstanding || probe.id == req.ID {
		t.Fatalf("probe %+v for exec %d", probe, req.ID)
	}
	g.send(&Envelope{Type: TypeResponse, ID: probe.id, Op: OpPing, Body: json.RawMessage(`{"x":1}`), Error: &WireError{Code: CodeInternal, Message: "odd"}})
	waitProbeAnswered(t, c)
	g.reply(req, &ExecResult{ExitCode: 0})
	if o := awaitExec(t, out); o.err != nil {
		t.Fatalf("exec: %v", o.err)
	}
	if err := c.Err(); err != nil {
		t.Errorf("connection: %v", err)
	}
}
