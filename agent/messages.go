package agent

import (
	"encoding/json"
	"time"
)

// ProtocolVersion is the version this package speaks; both sides must match.
const ProtocolVersion = 1

// MessageType tells requests, responses and events apart.
type MessageType string

const (
	TypeRequest  MessageType = "request"
	TypeResponse MessageType = "response"
	TypeEvent    MessageType = "event"
)

// Operations.
const (
	OpHello    = "hello"
	OpPing     = "ping"
	OpExec     = "exec"
	OpStats    = "stats"
	OpMount    = "mount"
	OpPoweroff = "poweroff"
)

// Envelope is the JSON payload of every frame. See PROTOCOL.md.
type Envelope struct {
	Type      MessageType     `json:"type"`
	ID        uint64          `json:"id"`
	Op        string          `json:"op,omitempty"`
	TimeoutMS int64           `json:"timeout_ms,omitempty"`
	Body      json.RawMessage `json:"body,omitempty"`
	Error     *WireError      `json:"error,omitempty"`
}

// WireError is the "error" member of a failed response.
type WireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// HelloRequest is the body of the host's first request on a connection.
type HelloRequest struct {
	ProtocolVersion int    `json:"protocol_version"`
	Nonce           string `json:"nonce"`
}

// HelloInfo is the body of the hello response: who the guest is.
type HelloInfo struct {
	ProtocolVersion int      `json:"protocol_version"`
	Nonce           string   `json:"nonce"`
	AgentVersion    string   `json:"agent_version"`
	KernelRelease   string   `json:"kernel_release"`
	UptimeSeconds   float64  `json:"uptime_seconds"`
	Boot            BootInfo `json:"boot"`
}

// BootInfo describes how the guest's init went.
type BootInfo struct {
	PID1          bool `json:"pid1"`
	ModulesLoaded int  `json:"modules_loaded"`
	// ModulesSkipped counts modules for virtio devices the guest lacks.
	ModulesSkipped int           `json:"modules_skipped,omitempty"`
	ModulesFailed  int           `json:"modules_failed"`
	ModulesTime    time.Duration `json:"modules_ns"`
	PortWait       time.Duration `json:"port_wait_ns"`
	InitTime       time.Duration `json:"init_ns"`
}

// Exec output limits.
const (
	// DefaultExecOutput caps each of stdout and stderr when the request
	// does not say otherwise.
	DefaultExecOutput = 1 << 20
	// MaxExecOutput is the largest per-stream cap a request may ask for
	// when the output comes back in the response: two base64-encoded
	// streams of this size still fit in MaxFrameSize.
	MaxExecOutput = 2 << 20
	// MaxStreamExecOutput is the largest per-stream cap of a streamed
	// exec. Streamed output travels in events of at most MaxChunkSize, so
	// the frame size does not limit it; the cap bounds what the host may
	// have to hold when its writer is slower than the guest.
	MaxStreamExecOutput = 256 << 20
	// MaxChunkSize bounds the data in one streamed output event.
	MaxChunkSize = 32 << 10
)

// Stream names in exec events.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// ExecRequest asks the agent to run a program.
type ExecRequest struct {
	Argv []string `json:"argv"`
	// Env entries (KEY=VALUE) are added to the agent's environment; later
	// entries win.
	Env []string `json:"env,omitempty"`
	// Dir is the working directory; empty means the agent's.
	Dir   string `json:"dir,omitempty"`
	Stdin []byte `json:"stdin,omitempty"`
	// MaxOutput caps each of stdout and stderr, in bytes; 0 means
	// DefaultExecOutput. More than MaxExecOutput is rejected unless
	// Stream is set, which allows up to MaxStreamExecOutput.
	MaxOutput int64 `json:"max_output,omitempty"`
	// Stream asks for output as events rather than in the response.
	Stream bool `json:"stream,omitempty"`
	// Timeout bounds the run; the process group is killed when it expires.
	// It travels as the envelope's timeout_ms, not in the body.
	Timeout time.Duration `json:"-"`
}

// OutputCap returns the effective per-stream cap.
func (r *ExecRequest) OutputCap() int64 {
	if r.MaxOutput == 0 {
		return DefaultExecOutput
	}
	return r.MaxOutput
}

// ExecEvent is the body of a streamed output event.
type ExecEvent struct {
	Stream string `json:"stream"`
	Data   []byte `json:"data"`
}

// ExecResult is the body of an exec response.
type ExecResult struct {
	// ExitCode is the exit status, or -1 when a signal ended the process.
	ExitCode int           `json:"exit_code"`
	Signal   string        `json:"signal,omitempty"`
	TimedOut bool          `json:"timed_out,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	// Stdout and Stderr are empty when the output was streamed.
	Stdout          []byte `json:"stdout,omitempty"`
	Stderr          []byte `json:"stderr,omitempty"`
	StdoutTruncated bool   `json:"stdout_truncated,omitempty"`
	StderrTruncated bool   `json:"stderr_truncated,omitempty"`
}

// GuestStats is the body of a stats response.
type GuestStats struct {
	CPU           CPUTimes    `json:"cpu"`
	NumCPU        int         `json:"num_cpu"`
	Memory        MemoryStats `json:"memory"`
	UptimeSeconds float64     `json:"uptime_seconds"`
	LoadAverage   [3]float64  `json:"load_average"`
}

// CPUTimes is time spent in each state summed over all CPUs, in nanoseconds.
type CPUTimes struct {
	User    uint64 `json:"user_ns"`
	Nice    uint64 `json:"nice_ns"`
	System  uint64 `json:"system_ns"`
	Idle    uint64 `json:"idle_ns"`
	IOWait  uint64 `json:"iowait_ns"`
	IRQ     uint64 `json:"irq_ns"`
	SoftIRQ uint64 `json:"softirq_ns"`
	Steal   uint64 `json:"steal_ns"`
}

// MemoryStats is /proc/meminfo in bytes.
type MemoryStats struct {
	Total     uint64 `json:"total"`
	Free      uint64 `json:"free"`
	Available uint64 `json:"available"`
	Buffers   uint64 `json:"buffers"`
	Cached    uint64 `json:"cached"`
}

// MountRequest asks the agent to mount a virtio 9p share.
type MountRequest struct {
	Tag    string `json:"tag"`
	Target string `json:"target"`
	// ReadOnly defaults to true when nil.
	ReadOnly *bool `json:"readonly,omitempty"`
}

// IsReadOnly applies the default.
func (r *MountRequest) IsReadOnly() bool {
	return r.ReadOnly == nil || *r.ReadOnly
}
