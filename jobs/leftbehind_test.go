package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/hypervisortest"
	"github.com/vmctl/vmctl/scheduler"
)

// stuckProvider is a native provider whose Stop fails as a VM provider's
// does when libvirtd restarts under it: the worker is gone from the job
// but its VM may be left.
type stuckProvider struct {
	Provider
	stopErr func(w *Worker) error

	mu      sync.Mutex
	stopped []string
}

func (p *stuckProvider) Stop(ctx context.Context, w *Worker) error {
	p.Provider.Stop(ctx, w)
	p.mu.Lock()
	p.stopped = append(p.stopped, w.Name)
	p.mu.Unlock()
	return p.stopErr(w)
}

func TestRunnerNamesWorkersItCouldNotRemove(t *testing.T) {
	socketClosed := errors.New("lookup: internal error: client socket is closed")
	tests := []struct {
		name     string
		script   string
		stopErr  func(w *Worker) error
		wantKind string
		jobFails bool
	}{
		{name: "VM left behind, job done", script: `echo "$VMCTL_PARTITION"`,
			stopErr: func(w *Worker) error { return hypervisor.LeftVM(w.Host, w.Name, true, socketClosed) }, wantKind: "domain"},
		{name: "worker not cleaned up, job done", script: `echo "$VMCTL_PARTITION"`,
			stopErr: func(w *Worker) error { return errors.New("remove output dir: device busy") }, wantKind: "worker"},
		{name: "VM left behind, job failed", script: `exit 9`, jobFails: true,
			stopErr: func(w *Worker) error { return hypervisor.LeftVM(w.Host, w.Name, true, socketClosed) }, wantKind: "domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := execSpec(t, tt.script, 4, 2, 1, 1)
			dir := t.TempDir()
			var sp *stuckProvider
			sum, err := runNative(t, s, dir, func(p Provider) Provider {
				sp = &stuckProvider{Provider: p, stopErr: tt.stopErr}
				return sp
			})
			if !errors.Is(err, hypervisor.ErrLeftBehind) {
				t.Fatalf("err = %v, want ErrLeftBehind", err)
			}
			if tt.jobFails != !hypervisor.OnlyLeftBehind(err) || tt.jobFails != errors.Is(err, ErrPartitionFailed) {
				t.Fatalf("err = %v: job failed %v, want %v", err, !hypervisor.OnlyLeftBehind(err), tt.jobFails)
			}
			if sum == nil {
				t.Fatal("no summary")
			}
			if !tt.jobFails && (sum.Result == nil || sum.Result.Value != 6) {
				t.Fatalf("the result must stand: %+v", sum.Result)
			}
			if len(sp.stopped) != 2 || len(sum.LeftBehind) != 2 {
				t.Fatalf("stopped %v, left behind %+v: want both workers named", sp.stopped, sum.LeftBehind)
			}
			for i, l := range sum.LeftBehind {
				if l.Kind != tt.wantKind || l.Host != "native" || l.Error == "" || l.Fix == "" {
					t.Errorf("left behind %d: %+v", i, l)
				}
				if !strings.Contains(err.Error(), l.Name) {
					t.Errorf("error %q does not name %s", err, l.Name)
				}
			}
			if strings.Count(err.Error(), sum.LeftBehind[0].Name+" on host") != 1 {
				t.Errorf("each worker is named once: %q", err)
			}
			if tt.wantKind == "domain" && !strings.Contains(err.Error(), "`vmctl vm rm "+sum.LeftBehind[0].Name+"` on host native, or `vmctl gc --yes`") {
				t.Errorf("no fix in %q", err)
			}
			if tt.jobFails {
				return
			}
			var onDisk Summary
			data, rerr := os.ReadFile(filepath.Join(dir, "summary.json"))
			if rerr != nil || json.Unmarshal(data, &onDisk) != nil || len(onDisk.LeftBehind) != 2 {
				t.Fatalf("summary.json lacks left_behind: %v\n%s", rerr, data)
			}
		})
	}
}

// fakeVMs is a one-host fleet of fake VMs whose agents are in-process.
type fakeVMs struct {
	fake     *hypervisortest.Fake
	provider *VMProvider
}

func newFakeVMs(t *testing.T, down ...scheduler.HostSpec) *fakeVMs {
	t.Helper()
	fake := hypervisortest.New("test:///h1", hypervisor.HostInfo{CPUs: 4, MemoryTotalMiB: 8192, MemoryFreeMiB: 8192,
		Cells: []hypervisor.NUMACell{{ID: 0, CPUs: []int{0, 1, 2, 3}, MemoryMiB: 8192, FreeMiB: 8192}}})
	fake.AgentConn = func(name string) (io.ReadWriteCloser, error) {
		host, guest := net.Pipe()
		go agent.ServeConn(context.Background(), guest, &agent.LocalHandler{AgentVersion: "fake"})
		return host, nil
	}
	open := func(ctx context.Context, uri string) (hypervisor.Backend, error) {
		if uri != "test:///h1" {
			return nil, fmt.Errorf("connect %s: %w", uri, hypervisor.ErrUnreachable)
		}
		return fake, nil
	}
	fleet := scheduler.OpenFleet(context.Background(), append([]scheduler.HostSpec{{Name: "h1", URI: "test:///h1"}}, down...), open,
		hypervisor.Config{StateDir: t.TempDir(), ScratchDir: t.TempDir()},
		hypervisor.WithKVMProbe(func() hypervisor.KVMProbe { return hypervisor.KVMProbe{CPUFlags: []string{"fpu"}} }))
	t.Cleanup(fleet.Close)
	claims, err := scheduler.NewClaimStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img := t.TempDir()
	for _, f := range []string{"vmlinux", "bzImage", "initramfs.cpio.gz"} {
		os.WriteFile(filepath.Join(img, f), []byte("x"), 0o644)
	}
	spec := &Spec{Name: "t", MaxAttempts: 1, VM: VMTemplate{VCPUs: 1, MemoryMiB: 256, Accel: "auto"}}
	return &fakeVMs{fake: fake, provider: &VMProvider{Spec: spec, JobID: "abc123", Fleet: fleet, Claims: claims, Policy: scheduler.DefaultPolicy(),
		Image: hypervisor.BootImage{Dir: img, Kernel: filepath.Join(img, "vmlinux"), BzImage: filepath.Join(img, "bzImage"), Initramfs: filepath.Join(img, "initramfs.cpio.gz"), PVH: true}}}
}

func TestVMProviderWorkersCarryTheirOwner(t *testing.T) {
	vms := newFakeVMs(t)
	w, err := vms.provider.Start(context.Background(), "j-t-abc123-0")
	if err != nil {
		t.Fatal(err)
	}
	info, err := vms.fake.Lookup(context.Background(), w.Name)
	if err != nil {
		t.Fatal(err)
	}
	if o := info.Meta.Owner; o == nil || o.PID != os.Getpid() || o.Start == 0 || info.Meta.Job != "abc123" {
		t.Fatalf("worker metadata %+v, owner %+v: want this process as owner and the job id", info.Meta, info.Meta.Owner)
	}
	if err := vms.provider.Stop(context.Background(), w); err != nil {
		t.Fatal(err)
	}
}

func TestVMProviderStopAndCleanupNameWhatStays(t *testing.T) {
	lost := fmt.Errorf("destroy: %w", hypervisor.ErrConnectionLost)
	vms := newFakeVMs(t)
	ctx := context.Background()
	var ws []*Worker
	for _, n := range []string{"j-t-abc123-0", "j-t-abc123-1"} {
		w, err := vms.provider.Start(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	vms.fake.SetFail(func(op, name string) error {
		if op == "destroy" {
			return lost
		}
		return nil
	})
	err := vms.provider.Stop(ctx, ws[0])
	var lb *hypervisor.LeftBehind
	if !errors.As(err, &lb) || !errors.Is(err, hypervisor.ErrConnectionLost) || lb.Items[0].Name != ws[0].Name || lb.Items[0].Host != "h1" {
		t.Fatalf("Stop: %v, want the VM named as left behind on h1", err)
	}
	removed, err := vms.provider.Cleanup(ctx, "abc123")
	if !hypervisor.OnlyLeftBehind(err) || len(removed) != 0 || len(hypervisor.Leftovers(err)) != 2 {
		t.Fatalf("Cleanup: removed %v, err %v; want both VMs left behind", removed, err)
	}
	vms.fake.SetFail(nil)
	removed, err = vms.provider.Cleanup(ctx, "abc123")
	if err != nil || len(removed) != 2 {
		t.Fatalf("Cleanup once libvirtd is back: removed %v, err %v", removed, err)
	}
}

func TestVMProviderWorkerNameTakenByAForeignDomain(t *testing.T) {
	vms := newFakeVMs(t)
	vms.fake.AddForeign("j-t-abc123-0")
	_, err := vms.provider.Start(context.Background(), "j-t-abc123-0")
	if !errors.Is(err, hypervisor.ErrNotOwned) || errors.Is(err, hypervisor.ErrLeftBehind) ||
		!strings.Contains(err.Error(), "a domain named j-t-abc123-0 on host h1 is not vmctl's (it has no vmctl metadata); vmctl leaves it alone: pick another name") {
		t.Fatalf("err = %v", err)
	}
	if _, err := vms.provider.Cleanup(context.Background(), "abc123"); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if !vms.fake.IsForeign("j-t-abc123-0") || len(vms.fake.Refused) > 0 || len(vms.fake.Mutations()) > 0 {
		t.Fatalf("the foreign domain was touched: refused %v, calls %v", vms.fake.Refused, vms.fake.Mutations())
	}
}

// foreignFirst fails the first start as a foreign domain holding the name
// does; the pool's position must go on under the next name.
type foreignFirst struct {
	Provider
	once sync.Once
}

func (p *foreignFirst) Start(ctx context.Context, name string) (w *Worker, err error) {
	taken := false
	p.once.Do(func() { taken = true })
	if taken {
		return nil, fmt.Errorf("create %s: %w: pick another name", name, &hypervisor.ForeignDomain{Name: name, Host: "h1"})
	}
	return p.Provider.Start(ctx, name)
}

func TestRunnerGoesOnWhenAWorkerNameIsTaken(t *testing.T) {
	s := execSpec(t, `echo "$VMCTL_PARTITION"`, 3, 1, 1, 1)
	sum, err := runNative(t, s, t.TempDir(), func(p Provider) Provider { return &foreignFirst{Provider: p} })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Result.Value != 3 || len(sum.LeftBehind) != 0 {
		t.Fatalf("summary %+v", sum)
	}
}

// cleanupIncomplete is a native provider whose Cleanup could not reach a
// host, as the VM provider's cannot when one is down.
type cleanupIncomplete struct{ Provider }

func (p cleanupIncomplete) Cleanup(ctx context.Context, jobID string) ([]string, error) {
	return nil, fmt.Errorf("workers of job %s: %w: host h2: connection refused", jobID, ErrCleanupIncomplete)
}

func TestCleanupOfAnUnreachableHostDoesNotStopTheJob(t *testing.T) {
	vms := newFakeVMs(t, scheduler.HostSpec{Name: "h2", URI: "qemu+tcp://h2/system"})
	if _, err := vms.provider.Cleanup(context.Background(), "abc123"); !errors.Is(err, ErrCleanupIncomplete) || !strings.Contains(err.Error(), "host h2") {
		t.Fatalf("cleanup with host h2 down: %v, want ErrCleanupIncomplete naming h2", err)
	}
	s := execSpec(t, `echo "$VMCTL_PARTITION"`, 3, 1, 1, 1)
	sum, err := runNative(t, s, t.TempDir(), func(p Provider) Provider { return cleanupIncomplete{p} })
	if err != nil || sum.Result.Value != 3 {
		t.Fatalf("job with a host down at cleanup: %v, %+v", err, sum)
	}
}
