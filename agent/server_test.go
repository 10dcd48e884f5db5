package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// rawHost drives ServeConn with hand-made frames.
type rawHost struct {
	t    *testing.T
	conn net.Conn
	fr   *FrameReader
}

func newRawHost(t *testing.T, h Handler, opts ...ServerOption) (*rawHost, <-chan error) {
	t.Helper()
	host, guest := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeConn(ctx, guest, h, opts...) }()
	t.Cleanup(func() {
		_ = host.Close()
		cancel()
	})
	return &rawHost{t: t, conn: host, fr: NewFrameReader(host)}, served
}

func (h *rawHost) write(b []byte) {
	h.t.Helper()
	_ = h.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := h.conn.Write(b); err != nil {
		h.t.Fatalf("write: %v", err)
	}
}

func (h *rawHost) request(id uint64, op string, timeoutMS int64, body string) []byte {
	env := &Envelope{Type: TypeRequest, ID: id, Op: op, TimeoutMS: timeoutMS}
	if body != "" {
		env.Body = json.RawMessage(body)
	}
	b, err := encodeFrame(env)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func (h *rawHost) read() *Envelope {
	h.t.Helper()
	_ = h.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := h.fr.ReadFrame()
	if err != nil {
		h.t.Fatalf("read: %v", err)
	}
	env, err := decodeEnvelope(p)
	if err != nil {
		h.t.Fatal(err)
	}
	return env
}

func TestServeConnRequests(t *testing.T) {
	tests := []struct {
		name      string
		input     func(h *rawHost) []byte
		wantID    uint64
		wantCode  string // "" for success
		checkBody func(t *testing.T, body json.RawMessage)
	}{
		{
			name:   "ping",
			input:  func(h *rawHost) []byte { return h.request(1, OpPing, 0, "") },
			wantID: 1,
		},
		{
			name: "garbage before a request is skipped",
			input: func(h *rawHost) []byte {
				return concat([]byte("\x00garbage\xff\xfe"), h.request(2, OpPing, 0, ""))
			},
			wantID: 2,
		},
		{
			name: "oversize frame is drained",
			input: func(h *rawHost) []byte {
				return concat(header(1000), make([]byte, 1000), h.request(3, OpPing, 0, ""))
			},
			wantID: 3,
		},
		{
			name: "malformed json is dropped",
			input: func(h *rawHost) []byte {
				return concat(frame(t, `{"type":`), h.request(4, OpPing, 0, ""))
			},
			wantID: 4,
		},
		{
			name: "responses and events from the host are ignored",
			input: func(h *rawHost) []byte {
				return concat(frame(t, `{"type":"response","id":9,"op":"ping"}`), frame(t, `{"type":"event","id":9}`), h.request(5, OpPing, 0, ""))
			},
			wantID: 5,
		},
		{
			name:     "unknown op",
			input:    func(h *rawHost) []byte { return h.request(6, "reboot-into-bios", 0, "") },
			wantID:   6,
			wantCode: CodeUnknownOp,
		},
		{
			name:     "bad body",
			input:    func(h *rawHost) []byte { return h.request(7, OpExec, 0, `{"argv":"not a list"}`) },
			wantID:   7,
			wantCode: CodeBadRequest,
		},
		{
			name:     "invalid exec",
			input:    func(h *rawHost) []byte { return h.request(8, OpExec, 0, `{"argv":[]}`) },
			wantID:   8,
			wantCode: CodeBadRequest,
		},
		{
			name:     "unstreamed cap above MaxExecOutput",
			input:    func(h *rawHost) []byte { return h.request(11, OpExec, 0, `{"argv":["true"],"max_output":2097153}`) },
			wantID:   11,
			wantCode: CodeBadRequest,
		},
		{
			name: "streamed cap above MaxExecOutput",
			input: func(h *rawHost) []byte {
				return h.request(12, OpExec, 0, `{"argv":["true"],"max_output":2097153,"stream":true}`)
			},
			wantID: 12,
		},
		{
			name: "streamed cap above MaxStreamExecOutput",
			input: func(h *rawHost) []byte {
				return h.request(13, OpExec, 0, `{"argv":["true"],"max_output":268435457,"stream":true}`)
			},
			wantID:   13,
			wantCode: CodeBadRequest,
		},
		{
			name:   "hello echoes the nonce",
			input:  func(h *rawHost) []byte { return h.request(10, OpHello, 0, `{"protocol_version":1,"nonce":"abc"}`) },
			wantID: 10,
			checkBody: func(t *testing.T, body json.RawMessage) {
				var info HelloInfo
				if err := json.Unmarshal(body, &info); err != nil || info.Nonce != "abc" || info.ProtocolVersion != ProtocolVersion {
					t.Errorf("hello body %s (%v)", body, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newRawHost(t, newRecordingHandler(), WithServerMaxFrameSize(512))
			h.write(tt.input(h))
			resp := h.read()
			if resp.Type != TypeResponse || resp.ID != tt.wantID {
				t.Fatalf("response %+v, want id %d", resp, tt.wantID)
			}
			gotCode := ""
			if resp.Error != nil {
				gotCode = resp.Error.Code
			}
			if gotCode != tt.wantCode {
				t.Errorf("error %+v, want code %q", resp.Error, tt.wantCode)
			}
			if tt.checkBody != nil {
				tt.checkBody(t, resp.Body)
			}
		})
	}
}

func TestServeConnVersionMismatch(t *testing.T) {
	h, _ := newRawHost(t, newRecordingHandler())
	h.write(h.request(1, OpHello, 0, `{"protocol_version":99,"nonce":"n"}`))
	resp := h.read()
	var info HelloInfo
	if err := json.Unmarshal(resp.Body, &info); err != nil || info.Nonce != "n" {
		t.Errorf("mismatched hello must still carry the nonce: %s", resp.Body)
	}
	if resp.Error == nil || resp.Error.Code != CodeVersionMismatch {
		t.Fatalf("error %+v, want version_mismatch", resp.Error)
	}
	h.write(h.request(2, OpPing, 0, ""))
	if resp := h.read(); resp.Error == nil || resp.Error.Code != CodeVersionMismatch {
		t.Errorf("ping after a bad hello: %+v", resp.Error)
	}
}

// blockingHandler's Stats waits for its deadline, reporting how long it got.
type blockingHandler struct {
	LocalHandler
	got chan time.Duration
}

func (h *blockingHandler) Stats(ctx context.Context) (*GuestStats, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		h.got <- -1
	} else {
		h.got <- time.Until(dl)
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestServeConnTimeouts(t *testing.T) {
	tests := []struct {
		name      string
		timeoutMS int64
		max       time.Duration
		wantAbout time.Duration
	}{
		{"requested timeout applies", 150, time.Hour, 150 * time.Millisecond},
		{"server maximum caps it", 60_000, 200 * time.Millisecond, 200 * time.Millisecond},
		{"no timeout means the maximum", 0, 250 * time.Millisecond, 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bh := &blockingHandler{got: make(chan time.Duration, 1)}
			h, _ := newRawHost(t, bh, WithMaxRequestTimeout(tt.max))
			h.write(h.request(1, OpStats, tt.timeoutMS, ""))
			got := <-bh.got
			if got > tt.wantAbout || got < tt.wantAbout-500*time.Millisecond {
				t.Errorf("handler deadline in %v, want about %v", got, tt.wantAbout)
			}
			resp := h.read()
			if resp.Error == nil || resp.Error.Code != CodeTimeout {
				t.Errorf("error %+v, want timeout", resp.Error)
			}
		})
	}
}

func TestServeConnHostDisconnectCancelsWork(t *testing.T) {
	h, served := newRawHost(t, newRecordingHandler())
	pidFile := filepath.Join(t.TempDir(), "pid")
	body, _ := json.Marshal(ExecRequest{Argv: []string{"sh", "-c", "echo $$ > " + pidFile + "; exec sleep 30"}})
	h.write(h.request(1, OpExec, 0, string(body)))
	deadline := time.Now().Add(5 * time.Second)
	for !pidWritten(pidFile) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// Leave in the middle of a frame, as a host may.
	h.write(h.request(2, OpPing, 0, "")[:10])
	_ = h.conn.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("ServeConn = %v, want nil for a host that went away", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeConn did not return after the host left")
	}
	assertProcessGone(t, pidFile)
}

func TestServeUnixListener(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, NetListener(l), newRecordingHandler()) }()
	dial := func(ctx context.Context) (io.ReadWriteCloser, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
	// Every command is a new connection, as with vmctl vm exec.
	for i := range 3 {
		c, err := Connect(ctx, dial)
		if err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		if err := c.Ping(ctx); err != nil {
			t.Errorf("ping %d: %v", i, err)
		}
		_ = c.Close()
	}
	cancel()
	select {
	case err := <-served:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// TestServeConnAnswersPingDuringExec: requests are served concurrently,
// so a ping (the host's liveness probe) is answered while an exec runs,
// streaming or not.
func TestServeConnAnswersPingDuringExec(t *testing.T) {
	tests := []struct {
		name   string
		script string
		stream bool
	}{
		{name: "silent exec", script: "echo $$ > %[1]s.new; mv %[1]s.new %[1]s; exec sleep 30"},
		{name: "streaming exec", script: "echo $$ > %[1]s.new; mv %[1]s.new %[1]s; while :; do echo out; sleep 0.01; done", stream: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, served := newRawHost(t, newRecordingHandler())
			pidFile := filepath.Join(t.TempDir(), "pid")
			body, _ := json.Marshal(ExecRequest{Argv: []string{"sh", "-c", fmt.Sprintf(tt.script, pidFile)}, Stream: tt.stream})
			h.write(h.request(1, OpExec, 0, string(body)))
			deadline := time.Now().Add(5 * time.Second)
			for !pidWritten(pidFile) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			h.write(h.request(2, OpPing, 0, ""))
			for {
				env := h.read()
				if env.ID == 1 && env.Type == TypeEvent {
					continue // output of the running exec
				}
				if env.ID != 2 || env.Type != TypeResponse || env.Error != nil {
					t.Fatalf("got %s %d (error %+v) while waiting for the ping's answer", env.Type, env.ID, env.Error)
				}
				break
			}
			_ = h.conn.Close()
			select {
			case <-served:
			case <-time.After(5 * time.Second):
				t.Fatal("ServeConn did not return after the host left")
			}
			assertProcessGone(t, pidFile)
		})
	}
}
