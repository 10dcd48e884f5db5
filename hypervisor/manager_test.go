package hypervisor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/hypervisortest"
)

// guest is a fake guest agent: a real agent server over net.Pipe whose
// mount and poweroff act on the fake backend.
type guest struct {
	agent.LocalHandler
	fake       *hypervisortest.Fake
	name       string
	mu         sync.Mutex
	mounts     []agent.MountRequest
	noPoweroff bool
	failMount  bool
}

func (g *guest) Mount(ctx context.Context, req *agent.MountRequest) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failMount {
		return errors.New("guest: mount refused")
	}
	g.mounts = append(g.mounts, *req)
	return nil
}

func (g *guest) Poweroff(ctx context.Context) error {
	if g.noPoweroff {
		return nil // a guest that ignores the request
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		g.fake.SetState(g.name, hypervisor.StateShutoff)
	}()
	return nil
}

type env struct {
	fake   *hypervisortest.Fake
	mgr    *hypervisor.Manager
	image  hypervisor.BootImage
	guests map[string]*guest
	mu     sync.Mutex
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{guests: map[string]*guest{}}
	e.fake = hypervisortest.New("test:///fake", hypervisor.HostInfo{CPUs: 4, MemoryTotalMiB: 4096, MemoryFreeMiB: 2048})
	e.fake.AgentConn = func(name string) (io.ReadWriteCloser, error) {
		e.mu.Lock()
		g, ok := e.guests[name]
		if !ok {
			g = &guest{fake: e.fake, name: name}
			e.guests[name] = g
		}
		e.mu.Unlock()
		host, guestEnd := net.Pipe()
		go agent.ServeConn(context.Background(), guestEnd, g)
		return host, nil
	}
	dir := t.TempDir()
	for _, f := range []string{"vmlinux", "bzImage", "initramfs.cpio.gz"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.image = hypervisor.BootImage{Dir: dir, Kernel: filepath.Join(dir, "vmlinux"), BzImage: filepath.Join(dir, "bzImage"), Initramfs: filepath.Join(dir, "initramfs.cpio.gz"), PVH: true}
	var err error
	e.mgr, err = hypervisor.NewManager(e.fake, hypervisor.Config{StateDir: t.TempDir(), ScratchDir: t.TempDir(), MemoryReserveMiB: 512,
		Timeouts: hypervisor.Timeouts{AgentReady: 2 * time.Second, Poweroff: 500 * time.Millisecond}},
		hypervisor.WithKVMProbe(func() hypervisor.KVMProbe { return hypervisor.KVMProbe{CPUFlags: []string{"fpu"}} }))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) req(name string) hypervisor.CreateRequest {
	return hypervisor.CreateRequest{Name: name, VCPUs: 1, MemoryMiB: 256, Image: e.image}
}

func TestCreateWaitsForAgentAndRecordsAccel(t *testing.T) {
	e := newEnv(t)
	share := t.TempDir()
	// QEMU runs unprivileged: the share and its parents must be reachable.
	os.Chmod(filepath.Dir(share), 0o755)
	req := e.req("a")
	req.Shares = []hypervisor.Share{{HostDir: share, Tag: "data"}}
	res, err := e.mgr.Create(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Hello == nil || res.Hello.ProtocolVersion != agent.ProtocolVersion || res.Ready <= 0 {
		t.Fatalf("create result lacks the agent's hello: %+v", res)
	}
	if res.Accel.Mode != hypervisor.AccelTCG || !strings.Contains(res.Accel.Reason, "vmx") {
		t.Fatalf("accel = %+v; a host without vmx/svm must get TCG with the reason", res.Accel)
	}
	if res.Info.Meta.AccelMode != hypervisor.AccelTCG || res.Info.State != hypervisor.StateRunning {
		t.Fatalf("info = %+v", res.Info)
	}
	g := e.guests["a"]
	if len(g.mounts) != 1 || g.mounts[0].Tag != "data" || g.mounts[0].Target != "/mnt/data" || !g.mounts[0].IsReadOnly() {
		t.Fatalf("shares must be mounted read-only at /mnt/TAG, got %+v", g.mounts)
	}
	if _, err := os.Stat(e.mgr.StateDir("a")); err != nil {
		t.Fatalf("state dir: %v", err)
	}
}

func TestCreateRefusals(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*env, *hypervisor.CreateRequest)
		wantErr error
		msgHas  string
	}{
		{"bad name", func(e *env, r *hypervisor.CreateRequest) { r.Name = "a/b" }, hypervisor.ErrInvalidName, "letters"},
		{"duplicate", func(e *env, r *hypervisor.CreateRequest) {
			if _, err := e.mgr.Create(context.Background(), e.req("dup")); err != nil {
				panic(err)
			}
			r.Name = "dup"
		}, hypervisor.ErrExists, "already exists"},
		{"foreign domain name", func(e *env, r *hypervisor.CreateRequest) { e.fake.AddForeign("theirs"); r.Name = "theirs" }, hypervisor.ErrNotOwned,
			"a domain named theirs on host test:///fake is not vmctl's (it has no vmctl metadata); vmctl leaves it alone: pick another name"},
		{"too much memory", func(e *env, r *hypervisor.CreateRequest) { r.MemoryMiB = 1800 }, hypervisor.ErrInsufficientMemory, "reserved"},
		{"missing image", func(e *env, r *hypervisor.CreateRequest) { r.Image = hypervisor.BootImage{} }, hypervisor.ErrInvalidSpec, "vmctl image build"},
		{"kvm on a host without it", func(e *env, r *hypervisor.CreateRequest) { r.Accel = hypervisor.AccelKVM }, hypervisor.ErrKVMUnavailable, "--accel tcg"},
		{"missing share", func(e *env, r *hypervisor.CreateRequest) {
			r.Shares = []hypervisor.Share{{HostDir: "/nonexistent/x", Tag: "x"}}
		}, hypervisor.ErrInvalidSpec, "nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			req := e.req("new")
			tt.mutate(e, &req)
			before, _ := e.fake.List(context.Background())
			_, err := e.mgr.Create(context.Background(), req)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.msgHas) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.wantErr, tt.msgHas)
			}
			after, _ := e.fake.List(context.Background())
			if len(after) != len(before) {
				t.Fatalf("a refused create left domains: before %d after %d", len(before), len(after))
			}
			if _, err := os.Stat(e.mgr.StateDir(req.Name)); err == nil && req.Name != "dup" {
				t.Fatal("a refused create left a state dir")
			}
		})
	}
}

func TestCreateCleansUpWhenGuestDies(t *testing.T) {
	e := newEnv(t)
	e.fake.AgentConn = func(name string) (io.ReadWriteCloser, error) {
		// The guest never answers and then powers off (a kernel panic).
		e.fake.SetState(name, hypervisor.StateShutoff)
		return nil, errors.New("connection refused")
	}
	_, err := e.mgr.Create(context.Background(), e.req("dies"))
	if !errors.Is(err, hypervisor.ErrGuestStopped) {
		t.Fatalf("err = %v, want ErrGuestStopped", err)
	}
	if _, err := e.fake.Lookup(context.Background(), "dies"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("domain left behind: %v", err)
	}
	if _, err := os.Stat(e.mgr.StateDir("dies")); err == nil {
		t.Fatal("state dir left behind")
	}
}

func TestCreateCleansUpWhenStartFails(t *testing.T) {
	e := newEnv(t)
	e.fake.FailStart["bad"] = errors.New("qemu exited")
	if _, err := e.mgr.Create(context.Background(), e.req("bad")); err == nil {
		t.Fatal("create must fail when start fails")
	}
	if _, err := e.fake.Lookup(context.Background(), "bad"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("domain left behind after failed start: %v", err)
	}
}

func TestWaitReadyHonoursContext(t *testing.T) {
	e := newEnv(t)
	e.fake.AgentConn = func(name string) (io.ReadWriteCloser, error) { return nil, errors.New("not yet") }
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.mgr.Create(ctx, e.req("slow"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("create ignored its context for %s", time.Since(start))
	}
	if _, err := e.fake.Lookup(context.Background(), "slow"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("domain left behind after cancelled create: %v", err)
	}
}

func TestExecThroughAgent(t *testing.T) {
	e := newEnv(t)
	if _, err := e.mgr.Create(context.Background(), e.req("x")); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	res, err := e.mgr.Exec(context.Background(), "x", &agent.ExecRequest{Argv: []string{"sh", "-c", "echo hi; echo oops >&2; exit 3"}}, &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || out.String() != "hi\n" || errb.String() != "oops\n" {
		t.Fatalf("exit %d stdout %q stderr %q", res.ExitCode, out.String(), errb.String())
	}
}

func TestStop(t *testing.T) {
	t.Run("clean poweroff", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.mgr.Create(context.Background(), e.req("s")); err != nil {
			t.Fatal(err)
		}
		res, err := e.mgr.Stop(context.Background(), "s")
		if err != nil || res.Forced {
			t.Fatalf("stop = %+v, %v; want clean", res, err)
		}
		for _, c := range e.fake.Calls {
			if c == "destroy s" {
				t.Fatal("clean stop must not destroy")
			}
		}
	})
	t.Run("forced after timeout", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.mgr.Create(context.Background(), e.req("s")); err != nil {
			t.Fatal(err)
		}
		e.guests["s"].noPoweroff = true
		res, err := e.mgr.Stop(context.Background(), "s")
		if err != nil || !res.Forced {
			t.Fatalf("stop = %+v, %v; want forced", res, err)
		}
		if info, _ := e.fake.Lookup(context.Background(), "s"); info.State != hypervisor.StateShutoff {
			t.Fatalf("state after forced stop: %s", info.State)
		}
	})
}

func TestRemove(t *testing.T) {
	e := newEnv(t)
	if _, err := e.mgr.Create(context.Background(), e.req("r")); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Remove(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.Lookup(context.Background(), "r"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("domain still there: %v", err)
	}
	if _, err := os.Stat(e.mgr.StateDir("r")); err == nil {
		t.Fatal("state dir still there")
	}
	if err := e.mgr.Remove(context.Background(), "r"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("second remove: %v, want ErrNotFound", err)
	}
	e.fake.AddForeign("theirs")
	if err := e.mgr.Remove(context.Background(), "theirs"); !errors.Is(err, hypervisor.ErrNotOwned) {
		t.Fatalf("remove of a foreign domain: %v, want ErrNotOwned", err)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{ms(10), 0.5, 10 * time.Millisecond},
		{ms(10, 20), 0.5, 15 * time.Millisecond},
		{ms(1, 2, 3, 4, 5), 0.5, 3 * time.Millisecond},
		{ms(1, 2, 3, 4, 5), 0.9, 4600 * time.Microsecond},
		{ms(1, 2, 3, 4, 5), 1, 5 * time.Millisecond},
		{nil, 0.5, 0},
	}
	for _, tt := range tests {
		if got := hypervisor.Percentile(tt.in, tt.q); got != tt.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tt.in, tt.q, got, tt.want)
		}
	}
}

func TestConcurrentCreatesOfOneNameAdmitOne(t *testing.T) {
	e := newEnv(t)
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := e.mgr.Create(context.Background(), e.req("same"))
			errs <- err
		}()
	}
	ok := 0
	for i := 0; i < n; i++ {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, hypervisor.ErrExists):
			t.Errorf("loser got %v, want ErrExists", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creates of one name succeeded, want exactly 1", ok)
	}
	if info, err := e.fake.Lookup(context.Background(), "same"); err != nil || info.State != hypervisor.StateRunning {
		t.Fatalf("the winner's VM was disturbed: %+v, %v", info, err)
	}
	if _, err := os.Stat(e.mgr.StateDir("same")); err != nil {
		t.Fatalf("the winner's state dir was removed by a loser: %v", err)
	}
}

func TestScratchDiskLivesAndDiesWithTheVM(t *testing.T) {
	e := newEnv(t)
	req := e.req("scratchy")
	req.ScratchMiB = 64
	if _, err := e.mgr.Create(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	def, _ := e.fake.Domain("scratchy")
	if len(def.Devices.Disks) != 1 || def.Devices.Disks[0].Target.Dev != "vda" {
		t.Fatalf("disks %+v", def.Devices.Disks)
	}
	path := def.Devices.Disks[0].Source.File.File
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != 64<<20 {
		t.Fatalf("scratch file %s: %v %v", path, fi, err)
	}
	if err := e.mgr.Remove(context.Background(), "scratchy"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("scratch disk survived rm: %v", err)
	}

	// A failed create removes it too.
	req = e.req("scratch-fail")
	req.ScratchMiB = 8
	e.fake.FailStart["scratch-fail"] = errors.New("boom")
	if _, err := e.mgr.Create(context.Background(), req); err == nil {
		t.Fatal("create succeeded")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*")); len(left) != 0 {
		t.Fatalf("scratch files left: %v", left)
	}
	req = e.req("huge")
	req.ScratchMiB = -1
	if _, err := e.mgr.Create(context.Background(), req); !errors.Is(err, hypervisor.ErrInvalidSpec) {
		t.Fatalf("negative scratch: %v", err)
	}
}

// countDials wraps the fake's agent dialer and counts connections.
func (e *env) countDials() *int {
	var n int
	dial := e.fake.AgentConn
	e.fake.AgentConn = func(name string) (io.ReadWriteCloser, error) {
		e.mu.Lock()
		n++
		e.mu.Unlock()
		return dial(name)
	}
	return &n
}

func TestCreateKeepsItsAgentConnection(t *testing.T) {
	e := newEnv(t)
	dials := e.countDials()
	share := t.TempDir()
	os.Chmod(filepath.Dir(share), 0o755)
	req := e.req("kept")
	req.Shares = []hypervisor.Share{{HostDir: share, Tag: "data"}}
	req.KeepAgent = true
	res, err := e.mgr.Create(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Agent == nil {
		t.Fatal("KeepAgent: no connection in the result")
	}
	defer res.Agent.Close()
	if err := res.Agent.Ping(context.Background()); err != nil {
		t.Fatalf("kept connection: %v", err)
	}
	// Waiting, mounting and handing over share one connection.
	if *dials != 1 || len(e.guests["kept"].mounts) != 1 {
		t.Fatalf("%d agent connections, %d mounts: want 1 and 1", *dials, len(e.guests["kept"].mounts))
	}

	plain, err := e.mgr.Create(context.Background(), e.req("plain"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Agent != nil {
		t.Fatal("without KeepAgent the connection must be closed, not returned")
	}
}

// TestAgentRetriesALostHello: a first connection whose hello the guest
// never sees (lost while the port switched connections) must not fail the
// call while time remains; a second connection gets the answer.
func TestAgentRetriesALostHello(t *testing.T) {
	e := newEnv(t)
	if _, err := e.mgr.Create(context.Background(), e.req("a")); err != nil {
		t.Fatal(err)
	}
	dial := e.fake.AgentConn
	var mu sync.Mutex
	lost := 0
	e.fake.AgentConn = func(name string) (io.ReadWriteCloser, error) {
		mu.Lock()
		defer mu.Unlock()
		if lost == 0 {
			lost++
			host, guestEnd := net.Pipe()
			go io.Copy(io.Discard, guestEnd) // swallows the hello
			return host, nil
		}
		return dial(name)
	}
	c, err := e.mgr.Agent(context.Background(), "a")
	if err != nil {
		t.Fatalf("agent after a lost hello: %v", err)
	}
	defer c.Close()
	if lost != 1 {
		t.Fatalf("the lossy connection was not tried first")
	}
}

// TestCreateKeepAgentFailedMountCleansUp: a share that fails to mount ends
// the create with its error and no VM, and the connection it would have
// handed over is closed, not given to a nil result.
func TestCreateKeepAgentFailedMountCleansUp(t *testing.T) {
	e := newEnv(t)
	e.guests["bad"] = &guest{fake: e.fake, name: "bad", failMount: true}
	share := t.TempDir()
	os.Chmod(filepath.Dir(share), 0o755)
	req := e.req("bad")
	req.Shares = []hypervisor.Share{{HostDir: share, Tag: "data"}}
	req.KeepAgent = true
	res, err := e.mgr.Create(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "mount refused") || res != nil {
		t.Fatalf("got %+v, %v: want no result and the mount error", res, err)
	}
	if _, err := e.mgr.Show(context.Background(), "bad"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("VM left after a failed create: %v", err)
	}
}

func TestCreateCleanupNamesADomainThatStays(t *testing.T) {
	e := newEnv(t)
	e.fake.FailStart["a"] = errors.New("qemu: could not start")
	e.fake.Fail = func(op, name string) error {
		if op == "undefine" {
			return fmt.Errorf("undefine %s: %w", name, hypervisor.ErrConnectionLost)
		}
		return nil
	}
	_, err := e.mgr.Create(context.Background(), e.req("a"))
	if !errors.Is(err, hypervisor.ErrLeftBehind) || hypervisor.OnlyLeftBehind(err) {
		t.Fatalf("err = %v: want the create's failure and the domain it left", err)
	}
	for _, want := range []string{"qemu: could not start", "left behind domain a on host test:///fake", "`vmctl vm rm a`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if _, lerr := e.fake.Lookup(context.Background(), "a"); lerr != nil {
		t.Fatalf("the fake should still hold the domain: %v", lerr)
	}
	// Its state directory stays with it, for `vm rm` or `gc` to take.
	if _, serr := os.Stat(e.mgr.StateDir("a")); serr != nil {
		t.Fatalf("state dir: %v", serr)
	}
}

func TestForeignDomainIsLeftAlone(t *testing.T) {
	tests := []struct {
		name string
		op   func(e *env) error
		has  string
	}{
		{name: "create", op: func(e *env) error { _, err := e.mgr.Create(context.Background(), e.req("theirs")); return err },
			has: "create theirs: a domain named theirs on host test:///fake is not vmctl's (it has no vmctl metadata); vmctl leaves it alone: pick another name"},
		{name: "remove", op: func(e *env) error { return e.mgr.Remove(context.Background(), "theirs") }, has: "theirs"},
		{name: "stop", op: func(e *env) error { _, err := e.mgr.Stop(context.Background(), "theirs"); return err }, has: "theirs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.AddForeign("theirs")
			err := tt.op(e)
			if !errors.Is(err, hypervisor.ErrNotOwned) || !strings.Contains(err.Error(), tt.has) {
				t.Fatalf("err = %v, want ErrNotOwned mentioning %q", err, tt.has)
			}
			if !e.fake.IsForeign("theirs") || len(e.fake.Refused) > 0 || len(e.fake.Calls) > 0 {
				t.Fatalf("the foreign domain was touched: foreign %v, refused %v, calls %v", e.fake.IsForeign("theirs"), e.fake.Refused, e.fake.Calls)
			}
			if _, serr := os.Stat(e.mgr.StateDir("theirs")); serr == nil {
				t.Fatal("a state dir was made for a foreign domain's name")
			}
		})
	}
}
