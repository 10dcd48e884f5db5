//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/libvirtbackend"
	"github.com/vmctl/vmctl/jobs"
)

// Scenario 8's measurement: short blocks of quiet and flooding alternate
// so that whatever else loads the host falls on both alike.
const (
	floodBlocks     = 16
	samplesPerBlock = 25 // per normal VM and phase: 400 per VM, 800 per phase
	floodRamp       = 300 * time.Millisecond
	// floodSettle is the pause between closing a flooding connection and
	// opening the next, and the silence that shows its flood has ended.
	floodSettle       = 500 * time.Millisecond
	maxFloodSettle    = 15 * time.Second
	minHostFloodRate  = 5000 // frames/s the host must have received
	maxP99FloodFactor = 2.0
)

// TestScenario08Flood holds, in this one process, agent connections to a
// flooding guest and to two normal guests, and compares the normal
// guests' no-op exec round trip while the flooder is quiet and while it
// sends ~10,000 frames a second for ids nobody waits for.
func TestScenario08Flood(t *testing.T) {
	s := newScenario(t, "8 flooding agent: other VMs' dispatch p99")
	img := hostileImage(t, "")
	s.run(func(t *testing.T, r *runEnv) {
		ctx := context.Background()
		flooder, n1, n2 := r.name("flood"), r.name("n1"), r.name("n2")
		r.createVMs(
			vmSpec{name: flooder, image: img, args: []string{"--kernel-args", "vmctl.hostile=flood"}},
			vmSpec{name: n1}, vmSpec{name: n2},
		)
		b, err := libvirtbackend.Open(ctx, "qemu:///system")
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		m, err := hypervisor.NewManager(b, hypervisor.Config{StateDir: r.stateDir})
		if err != nil {
			t.Fatal(err)
		}
		var normals []*agent.Client
		for _, n := range []string{n1, n2} {
			c, err := m.Agent(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			normals = append(normals, c)
		}
		roundTrips(t, normals, 5) // warm up

		var received atomic.Int64 // bytes from the flooder
		dial := func(ctx context.Context) (io.ReadWriteCloser, error) {
			rwc, err := b.OpenAgent(ctx, flooder)
			return &countingConn{ReadWriteCloser: rwc, n: &received}, err
		}
		var quiet, flood []time.Duration
		var quietBytes, floodBytes, staleBytes int64
		var floodTime time.Duration
		var report floodReport
		var guestFrames int64
		for range floodBlocks {
			fc, err := agent.Connect(ctx, dial)
			if err != nil {
				t.Fatal(err)
			}
			// The previous connection's flood may still be arriving: the
			// guest stops once it notices that host left.
			staleBytes += waitQuiet(t, &received)
			at := received.Load()
			quiet = append(quiet, roundTrips(t, normals, samplesPerBlock)...)
			quietBytes += received.Load() - at

			if res, err := fc.Exec(ctx, &agent.ExecRequest{Argv: []string{"flood"}}, nil, nil); err != nil || res.ExitCode != 0 {
				t.Fatalf("start the flood: %v %+v", err, res)
			}
			time.Sleep(floodRamp)
			at, began := received.Load(), time.Now()
			flood = append(flood, roundTrips(t, normals, samplesPerBlock)...)
			floodBytes += received.Load() - at
			floodTime += time.Since(began)

			// The flooder's connection survived its own flood.
			res, err := fc.Exec(ctx, &agent.ExecRequest{Argv: []string{"floodstats"}}, nil, nil)
			if err != nil {
				t.Fatalf("floodstats: %v", err)
			}
			if err := json.Unmarshal(res.Stdout, &report); err != nil {
				t.Fatalf("floodstats: %v: %q", err, res.Stdout)
			}
			guestFrames += report.Frames
			fc.Close()
			// Output a guest sends while no host is connected is dropped.
			time.Sleep(floodSettle)
		}
		if report.FrameBytes <= 0 {
			t.Fatalf("floodstats %+v: no frame size", report)
		}
		qp, fp := jobs.PercentilesOf(quiet), jobs.PercentilesOf(flood)
		hostRate := float64(floodBytes) / float64(report.FrameBytes) / floodTime.Seconds()
		ms := func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }
		s.figure("no-op exec on 2 VMs, %d samples each: flooder quiet p50 %s p90 %s p99 %s max %s; flooding p50 %s p90 %s p99 %s max %s; p99 %.2fx",
			len(quiet), ms(qp.P50), ms(qp.P90), ms(qp.P99), ms(qp.Max), ms(fp.P50), ms(fp.P90), ms(fp.P99), ms(fp.Max), float64(fp.P99)/float64(qp.P99))
		s.figure("host received %.0f flood frames/s while measuring (%d bytes of %d-byte frames); the guest sent %d frames in %d floods, %.0f/s in the last; %d bytes while quiet; %d bytes of an ended connection's flood reached the next",
			hostRate, floodBytes, report.FrameBytes, guestFrames, floodBlocks, report.FramesPerSec, quietBytes, staleBytes)
		if hostRate < minHostFloodRate {
			t.Errorf("the host received %.0f flood frames/s, want at least %d: the flood did not test the claim", hostRate, minHostFloodRate)
		}
		if quietBytes > 0 {
			t.Errorf("%d bytes came from the flooder while it was quiet", quietBytes)
		}
		if float64(fp.P99) >= maxP99FloodFactor*float64(qp.P99) {
			t.Errorf("dispatch p99 %s while flooding, %s quiet: want under %.0fx", fp.P99, qp.P99, maxP99FloodFactor)
		}
	})
}

// roundTrips runs n no-op execs on each client in turn and returns their
// round trips.
func roundTrips(t *testing.T, cs []*agent.Client, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n*len(cs))
	for range n {
		for _, c := range cs {
			began := time.Now()
			res, err := c.Exec(context.Background(), &agent.ExecRequest{Argv: []string{"true"}, Timeout: time.Minute}, nil, nil)
			if err != nil {
				t.Fatalf("exec true: %v", err)
			}
			if res.ExitCode != 0 {
				t.Fatalf("true exited %d", res.ExitCode)
			}
			out = append(out, time.Since(began))
		}
	}
	return out
}

// waitQuiet waits until nothing more arrives for floodSettle and returns
// how much did meanwhile.
func waitQuiet(t *testing.T, received *atomic.Int64) int64 {
	t.Helper()
	start, deadline := received.Load(), time.Now().Add(maxFloodSettle)
	for last := start; ; {
		time.Sleep(floodSettle)
		now := received.Load()
		if now == last {
			return now - start
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flood of a closed connection still arrives after %s (%d bytes)", maxFloodSettle, now-start)
		}
		last = now
	}
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	io.ReadWriteCloser
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
