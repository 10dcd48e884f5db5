//go:build linux

// Command hostileagent is a guest /init for the fault suite: it reaches
// the host the way vmctl-agent does (package internal/guest: early mounts,
// the console, the virtio-serial port org.vmctl.agent.0) and then breaks
// the agent protocol (agent/PROTOCOL.md) in the way the kernel command
// line parameter vmctl.hostile=MODE asks:
//
//	line      never a frame: on every host connection, a 1 GiB "line" of
//	          bytes without the frame magic, then a newline
//	bigframe  answers hello correctly; on the next request sends a header
//	          claiming a 1 GiB payload and then endless data
//	flood     a correct agent, until an exec whose argv[0] is "flood":
//	          from then on it also sends, on that connection, about
//	          10,000 event frames a second for ids the host never used
//	          ("flood CMD ARGS..." runs CMD ARGS after starting the flood);
//	          "floodstats" prints what the flood has sent as JSON
//	exit      exits at once: the kernel panics (init exited)
//
// Without the parameter the mode is the one linked in with
// -ldflags "-X main.defaultMode=MODE" (an image that must never boot is
// built that way), else it exits as in "exit".
//
// It is a test program, built only by the fault suite (faults/), never
// part of vmctl's binaries or images.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/internal/guest"
)

// defaultMode is set at link time for images that cannot take a kernel
// command line parameter (a job's workers).
var defaultMode = ""

const (
	// cmdlineParam selects the mode.
	cmdlineParam = "vmctl.hostile="
	// hostileBytes is how much a line or a big frame claims and sends at
	// most: far beyond any limit the host may have.
	hostileBytes = 1 << 30
	// chunk is one write of hostile data.
	chunk = 64 << 10
	// floodRate is the flood's target in frames per second, sent in
	// batches of floodBatch frames (one write each).
	floodRate  = 10000
	floodBatch = 100
	// floodIDBase keeps the flood's ids clear of the host's: the host
	// starts below 2^31 and counts up by one per call.
	floodIDBase = 1 << 40
	portWait    = 10 * time.Second
)

func main() {
	logger := log.New(os.Stderr, "hostileagent: ", log.Lmicroseconds|log.Lmsgprefix)
	if os.Getpid() != 1 {
		logger.Print("runs only as a guest's /init")
		os.Exit(2)
	}
	guest.MountAll(logger, guest.EarlyMounts())
	guest.ReopenConsole(logger)
	guest.MountAll(logger, guest.ScratchMounts())
	_ = os.Setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin")

	mode := modeFrom(readFile("/proc/cmdline"), defaultMode)
	logger.Printf("mode %q", mode)
	switch mode {
	case "line", "bigframe", "flood":
	default:
		// Returning from PID 1 panics the kernel: the never-booting guest.
		logger.Printf("exiting as init (mode %q)", mode)
		os.Exit(1)
	}

	ctx := context.Background()
	fctx, cancel := context.WithTimeout(ctx, portWait)
	dev, err := guest.FindPort(fctx, guest.SysVirtioPorts, guest.AgentPortName)
	cancel()
	if err != nil {
		logger.Fatal(err)
	}
	l, err := guest.OpenPort(dev)
	if err != nil {
		logger.Fatal(err)
	}
	logger.Printf("serving on %s", dev)
	stats := &floodStats{}
	for {
		conn, err := l.Accept(ctx)
		if err != nil {
			logger.Printf("accept: %v", err)
			time.Sleep(time.Second)
			continue
		}
		switch mode {
		case "line":
			go func() { _, _ = io.Copy(io.Discard, conn) }()
			go func() {
				n, err := spew(conn, bytes.Repeat([]byte("A"), chunk), hostileBytes)
				if err == nil {
					_, err = conn.Write([]byte("\n"))
				}
				logger.Printf("line: sent %d bytes (%v)", n, err)
			}()
		default:
			h := &handler{
				LocalHandler: agent.LocalHandler{AgentVersion: "hostile-" + mode},
				mode:         mode, conn: conn, log: logger, stats: stats,
			}
			go func() {
				err := agent.ServeConn(ctx, conn, h)
				h.stopFlood()
				logger.Printf("connection ended: %v", err)
			}()
		}
	}
}

// modeFrom picks the mode from a kernel command line, else def.
func modeFrom(cmdline, def string) string {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, cmdlineParam); ok {
			return v
		}
	}
	return def
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// spew writes block repeatedly until limit bytes are out or a write fails
// (the host went away).
func spew(w io.Writer, block []byte, limit int64) (int64, error) {
	var sent int64
	for sent < limit {
		n, err := w.Write(block[:min(int64(len(block)), limit-sent)])
		sent += int64(n)
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// handler is a correct agent for hello, and hostile after it.
type handler struct {
	agent.LocalHandler
	mode  string
	conn  io.Writer
	log   *log.Logger
	stats *floodStats

	mu       sync.Mutex
	flooding chan struct{} // closed to stop this connection's flood
}

func (h *handler) Exec(ctx context.Context, req *agent.ExecRequest, out agent.OutputFunc) (*agent.ExecResult, error) {
	if h.mode == "bigframe" {
		return nil, h.bigFrame()
	}
	switch req.Argv[0] {
	case "flood":
		h.startFlood()
		if len(req.Argv) == 1 {
			return &agent.ExecResult{}, nil
		}
		rest := *req
		rest.Argv = req.Argv[1:]
		return h.LocalHandler.Exec(ctx, &rest, out)
	case "floodstats":
		data, err := json.Marshal(h.stats.snapshot())
		if err != nil {
			return nil, err
		}
		data = append(data, '\n')
		if out != nil {
			return &agent.ExecResult{}, out(ctx, agent.StreamStdout, data)
		}
		return &agent.ExecResult{Stdout: data}, nil
	}
	return h.LocalHandler.Exec(ctx, req, out)
}

func (h *handler) Stats(ctx context.Context) (*agent.GuestStats, error) {
	if h.mode == "bigframe" {
		return nil, h.bigFrame()
	}
	return h.LocalHandler.Stats(ctx)
}

// bigFrame sends a header claiming hostileBytes and then data until the
// host stops reading. Only one request is in flight (the one answered
// this way), so nothing else writes to the connection meanwhile.
func (h *handler) bigFrame() error {
	// The frame header of PROTOCOL.md: magic, then the payload length.
	hdr := binary.BigEndian.AppendUint32([]byte{0xFF, 'V', 'M', 'A'}, hostileBytes)
	if _, err := h.conn.Write(hdr); err != nil {
		return err
	}
	n, err := spew(h.conn, bytes.Repeat([]byte("x"), chunk), hostileBytes)
	h.log.Printf("bigframe: sent a 1 GiB header and %d bytes (%v)", n, err)
	return fmt.Errorf("sent a %d-byte frame instead of an answer", hostileBytes)
}

func (h *handler) startFlood() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.flooding != nil {
		return
	}
	h.flooding = make(chan struct{})
	go h.flood(h.flooding)
}

func (h *handler) stopFlood() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.flooding != nil {
		close(h.flooding)
	}
}

// flood sends floodRate event frames a second, floodBatch per write, for
// ids the host is not waiting for, until stop closes or a write fails.
// The batch is encoded once: the guest's CPU goes to sending, not JSON.
func (h *handler) flood(stop chan struct{}) {
	var batch []byte
	for i := range floodBatch {
		body, _ := json.Marshal(&agent.ExecEvent{Stream: agent.StreamStdout, Data: []byte("flood")})
		payload, _ := json.Marshal(&agent.Envelope{Type: agent.TypeEvent, ID: floodIDBase + uint64(i), Op: agent.OpExec, Body: body})
		batch, _ = agent.AppendFrame(batch, payload)
	}
	h.stats.start(len(batch) / floodBatch)
	began := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var sent int64
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		// Catch up to the rate: a slow write is followed by more batches.
		for sent < int64(time.Since(began).Seconds()*floodRate) {
			if _, err := h.conn.Write(batch); err != nil {
				h.log.Printf("flood: %d frames sent, ended: %v", sent, err)
				return
			}
			sent += floodBatch
			h.stats.add(floodBatch)
		}
	}
}

// floodStats is what the latest flood has sent, for "floodstats".
type floodStats struct {
	frames     atomic.Int64
	frameBytes atomic.Int64
	began      atomic.Int64 // unix nanoseconds of its start
}

// start begins the figures of a new flood.
func (s *floodStats) start(frameBytes int) {
	s.frames.Store(0)
	s.frameBytes.Store(int64(frameBytes))
	s.began.Store(time.Now().UnixNano())
}

func (s *floodStats) add(n int64) { s.frames.Add(n) }

// FloodReport is floodstats' output.
type FloodReport struct {
	Frames       int64   `json:"frames"`
	FrameBytes   int64   `json:"frame_bytes"`
	Seconds      float64 `json:"seconds"`
	FramesPerSec float64 `json:"frames_per_sec"`
}

func (s *floodStats) snapshot() FloodReport {
	r := FloodReport{Frames: s.frames.Load(), FrameBytes: s.frameBytes.Load()}
	if b := s.began.Load(); b > 0 {
		r.Seconds = time.Since(time.Unix(0, b)).Seconds()
	}
	if r.Seconds > 0 {
		r.FramesPerSec = float64(r.Frames) / r.Seconds
	}
	return r
}
