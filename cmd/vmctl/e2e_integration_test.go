//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
)

// These tests run the real vmctl binary against qemu:///system and boot real
// guests (TCG on the CI machines). They fail, never skip, when libvirt or
// the image cannot be had: CI asked for them.

var (
	binDir   string
	imageDir = envOr("VMCTL_IMAGE_DIR", "/var/lib/vmctl/images")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	binDir = os.Getenv("VMCTL_BIN")
	if binDir == "" {
		tmp, err := os.MkdirTemp("", "vmctl-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		binDir = tmp
		for _, b := range [][]string{
			{"CGO_ENABLED=0", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", filepath.Join(tmp, "vmctl-agent"), "../vmctl-agent"},
			{"", "-o", filepath.Join(tmp, "vmctl"), "."},
		} {
			cmd := exec.Command("go", append([]string{"build"}, b[1:]...)...)
			cmd.Env = os.Environ()
			if b[0] != "" {
				cmd.Env = append(cmd.Env, b[0])
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
				return 1
			}
		}
	}
	// VMCTL_KERNEL=minimal runs every test on the minimal kernel instead.
	out, err := exec.Command(filepath.Join(binDir, "vmctl"), "--image-dir", imageDir, "image", "build",
		"--kernel", envOr("VMCTL_KERNEL", "debian"), "--agent", filepath.Join(binDir, "vmctl-agent")).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration tests need the guest image and libvirt (run scripts/setup-host.sh): %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

type result struct {
	stdout, stderr string
	code           int
}

// vmctl runs the binary with a per-test state directory.
func vmctl(t *testing.T, stateDir string, args ...string) result {
	t.Helper()
	full := append([]string{"--state-dir", stateDir, "--image-dir", imageDir}, args...)
	cmd := exec.Command(filepath.Join(binDir, "vmctl"), full...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run vmctl %v: %v", args, err)
	}
	return r
}

func mustVMCTL(t *testing.T, stateDir string, args ...string) result {
	t.Helper()
	r := vmctl(t, stateDir, args...)
	if r.code != 0 {
		t.Fatalf("vmctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func vmName(t *testing.T, suffix string) string {
	return fmt.Sprintf("vmctl-it-%d-%s", os.Getpid(), suffix)
}

// ownedBy tells whether a VM was created with this state directory: its
// metadata records its own directory under the state dir.
func ownedBy(v hypervisor.DomainInfo, stateDir string) bool {
	return filepath.Dir(v.Meta.StateDir) == filepath.Clean(stateDir)
}

// assertNothingLeft checks that no vmctl domain of this test, agent socket
// or state file remains.
func assertNothingLeft(t *testing.T, stateDir string, names ...string) {
	t.Helper()
	assertGone(t, stateDir, nil, names...)
	if entries, _ := os.ReadDir(stateDir); len(entries) > 0 {
		t.Errorf("state left in %s: %v", stateDir, entries)
	}
}

// assertGone checks that the named VMs have no domain (on the hosts that
// global selects), state directory or agent socket, while other VMs may
// still exist.
func assertGone(t *testing.T, stateDir string, global []string, names ...string) {
	t.Helper()
	r := mustVMCTL(t, stateDir, append(global, "-o", "json", "vm", "list")...)
	var vms []hypervisor.DomainInfo
	if err := json.Unmarshal([]byte(r.stdout), &vms); err != nil {
		t.Fatalf("vm list json: %v\n%s", err, r.stdout)
	}
	for _, v := range vms {
		for _, n := range names {
			if v.Name == n {
				t.Errorf("domain %s left behind", n)
			}
		}
		// Other vmctl users of this host (another test binary, an
		// operator) may run benchmarks of their own: only ours count.
		if strings.HasPrefix(v.Name, "vmctl-bench-") && ownedBy(v, stateDir) {
			t.Errorf("benchmark domain %s left behind", v.Name)
		}
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(stateDir, n)); err == nil {
			t.Errorf("state dir of %s left behind", n)
		}
		socks, _ := filepath.Glob("/var/lib/libvirt/qemu/channel/target/domain-*-" + n + "/*")
		if len(socks) > 0 {
			t.Errorf("agent sockets of %s left behind: %v", n, socks)
		}
	}
}

func TestVMLifecycle(t *testing.T) {
	state := t.TempDir()
	name := vmName(t, "life")
	share := t.TempDir()
	if err := os.WriteFile(filepath.Join(share, "hello.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// QEMU runs as libvirt-qemu: the share and its parents must be open to it.
	os.Chmod(share, 0o755)
	os.Chmod(filepath.Dir(share), 0o755)
	t.Cleanup(func() {
		vmctl(t, state, "vm", "rm", name)
		assertNothingLeft(t, state, name)
	})

	r := mustVMCTL(t, state, "vm", "create", name, "--vcpus", "2", "--memory", "256", "--share", share+":data")
	if !strings.Contains(r.stdout, "ready in") {
		t.Fatalf("create should print how long the agent took: %q", r.stdout)
	}
	t.Logf("create: %s", strings.TrimSpace(r.stdout))

	var img struct {
		KernelRelease string
	}
	ir := mustVMCTL(t, state, "-o", "json", "image", "show")
	if err := json.Unmarshal([]byte(ir.stdout), &img); err != nil {
		t.Fatal(err)
	}

	t.Run("uname -r is the image's kernel", func(t *testing.T) {
		r := mustVMCTL(t, state, "vm", "exec", name, "--", "uname", "-r")
		if got := strings.TrimSpace(r.stdout); got != img.KernelRelease || got == "" {
			t.Fatalf("guest kernel %q, image kernel %q", got, img.KernelRelease)
		}
	})
	t.Run("exit code and both streams", func(t *testing.T) {
		r := vmctl(t, state, "vm", "exec", name, "--", "sh", "-c", "echo out; echo err >&2; exit 7")
		if r.code != 7 || r.stdout != "out\n" || r.stderr != "err\n" {
			t.Fatalf("got code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("env and workdir", func(t *testing.T) {
		r := mustVMCTL(t, state, "vm", "exec", "-e", "GREETING=hi", "-w", "/tmp", name, "--", "sh", "-c", "echo $GREETING $(pwd)")
		if strings.TrimSpace(r.stdout) != "hi /tmp" {
			t.Fatalf("got %q", r.stdout)
		}
	})
	t.Run("timeout kills the command", func(t *testing.T) {
		start := time.Now()
		r := vmctl(t, state, "vm", "exec", "--timeout", "1s", name, "--", "sleep", "30")
		if r.code != 124 || time.Since(start) > 20*time.Second {
			t.Fatalf("code %d after %s, want 124 promptly", r.code, time.Since(start))
		}
	})
	t.Run("guest has the vcpus and memory asked for", func(t *testing.T) {
		r := mustVMCTL(t, state, "vm", "exec", name, "--", "sh", "-c", "grep -c ^processor /proc/cpuinfo; grep MemTotal /proc/meminfo")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 || lines[0] != "2" {
			t.Fatalf("got %q", r.stdout)
		}
		kb, _ := strconv.Atoi(strings.Fields(lines[1])[1])
		if kb < 150*1024 || kb > 256*1024 {
			t.Fatalf("MemTotal %d kB for a 256 MiB guest", kb)
		}
	})
	t.Run("share is mounted read-only", func(t *testing.T) {
		r := mustVMCTL(t, state, "vm", "exec", name, "--", "cat", "/mnt/data/hello.txt")
		if r.stdout != "from the host\n" {
			t.Fatalf("got %q", r.stdout)
		}
		w := vmctl(t, state, "vm", "exec", name, "--", "sh", "-c", "echo x > /mnt/data/new.txt")
		if w.code == 0 {
			t.Fatal("writing to a read-only share succeeded")
		}
		if _, err := os.Stat(filepath.Join(share, "new.txt")); err == nil {
			t.Fatal("guest wrote into the host directory")
		}
	})
	t.Run("list, show and acceleration recorded", func(t *testing.T) {
		r := mustVMCTL(t, state, "-o", "json", "vm", "show", name)
		var info hypervisor.DomainInfo
		if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
			t.Fatal(err)
		}
		if info.State != hypervisor.StateRunning || info.VCPUs != 2 || info.MemoryMiB != 256 {
			t.Fatalf("show: %+v", info)
		}
		if info.Meta.AccelMode == "" || info.Meta.AccelReason == "" {
			t.Fatalf("acceleration not recorded: %+v", info.Meta)
		}
		if info.QEMUPid <= 0 {
			t.Fatalf("no qemu pid: %+v", info)
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", info.QEMUPid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "Uid:") && strings.Fields(line)[1] == "0" {
				t.Fatal("QEMU runs as root")
			}
		}
		l := mustVMCTL(t, state, "vm", "list")
		if !strings.Contains(l.stdout, name) {
			t.Fatalf("list lacks %s:\n%s", name, l.stdout)
		}
	})
	t.Run("stop powers off through the agent", func(t *testing.T) {
		r := mustVMCTL(t, state, "vm", "stop", name)
		if !strings.Contains(r.stdout, "stopped") {
			t.Fatalf("stop: %q", r.stdout)
		}
		s := mustVMCTL(t, state, "-o", "json", "vm", "show", name)
		var info hypervisor.DomainInfo
		json.Unmarshal([]byte(s.stdout), &info)
		if info.State != hypervisor.StateShutoff {
			t.Fatalf("state after stop: %s", info.State)
		}
		e := vmctl(t, state, "vm", "exec", name, "--", "true")
		if e.code == 0 || !strings.Contains(e.stderr, "not running") {
			t.Fatalf("exec on a stopped VM: code %d, %q", e.code, e.stderr)
		}
	})
	t.Run("rm removes everything", func(t *testing.T) {
		mustVMCTL(t, state, "vm", "rm", name)
		assertNothingLeft(t, state, name)
		r := vmctl(t, state, "vm", "rm", name)
		if r.code == 0 || !strings.Contains(r.stderr, "not found") {
			t.Fatalf("second rm: code %d %q", r.code, r.stderr)
		}
	})
}

func TestCreateRejectsBadInput(t *testing.T) {
	state := t.TempDir()
	dup := vmName(t, "dup")
	t.Cleanup(func() {
		vmctl(t, state, "vm", "rm", dup)
		assertNothingLeft(t, state, dup, vmName(t, "big"), vmName(t, "noimg"), vmName(t, "noshare"), vmName(t, "x"), vmName(t, "priv"))
	})
	mustVMCTL(t, state, "vm", "create", dup)

	tests := []struct {
		name   string
		args   []string
		errHas string
	}{
		{"bad name", []string{"vm", "create", "bad name!"}, "letters, digits"},
		{"too long", []string{"vm", "create", strings.Repeat("x", 64)}, "63"},
		{"duplicate", []string{"vm", "create", dup}, "already exists"},
		{"too much memory", []string{"vm", "create", vmName(t, "big"), "--memory", "900000"}, "memory: needs 900000 MiB"},
		{"missing image", []string{"--image-dir", t.TempDir(), "vm", "create", vmName(t, "noimg")}, "vmctl image build"},
		{"missing share", []string{"vm", "create", vmName(t, "noshare"), "--share", "/nonexistent/vmctl:x"}, "nonexistent"},
		{"bad accel", []string{"vm", "create", vmName(t, "x"), "--accel", "xen"}, "auto, kvm or tcg"},
		{"share QEMU cannot read", []string{"vm", "create", vmName(t, "priv"), "--share", privateShare(t) + ":p"}, "chmod o+x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := vmctl(t, state, tt.args...)
			if r.code == 0 || !strings.Contains(r.stderr, tt.errHas) {
				t.Fatalf("code %d, stderr %q; want failure mentioning %q", r.code, r.stderr, tt.errHas)
			}
		})
	}
	// The duplicate attempt must not have disturbed the original.
	r := mustVMCTL(t, state, "vm", "exec", dup, "--", "echo", "alive")
	if r.stdout != "alive\n" {
		t.Fatalf("original VM broken after duplicate create: %q", r.stdout)
	}
}

// privateShare is a directory whose parent is closed to other users, as a
// home directory often is.
func privateShare(t *testing.T) string {
	t.Helper()
	parent := t.TempDir()
	os.Chmod(parent, 0o700)
	dir := filepath.Join(parent, "inner")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestDoctor(t *testing.T) {
	r := vmctl(t, t.TempDir(), "-o", "json", "doctor")
	var checks []check
	if err := json.Unmarshal([]byte(r.stdout), &checks); err != nil {
		t.Fatalf("doctor json: %v\n%s", err, r.stdout)
	}
	byName := map[string]check{}
	for _, c := range checks {
		byName[c.Name] = c
		if !c.OK {
			t.Errorf("doctor check %s failed on the CI host: %s (fix: %s)", c.Name, c.Detail, c.Fix)
		}
	}
	for _, want := range []string{"libvirt", "virtlogd", "libvirtd", "acceleration", "guest image", "qemu user", "/dev/kvm"} {
		if _, ok := byName[want]; !ok {
			t.Errorf("doctor lacks check %q", want)
		}
	}
	if r.code != 0 {
		t.Errorf("doctor exit %d", r.code)
	}
}

func TestBenchBootRunsBothProfiles(t *testing.T) {
	state := t.TempDir()
	r := mustVMCTL(t, state, "-o", "json", "bench", "boot", "--count", "1")
	var res hypervisor.BootBenchResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(res.Samples) != 2 || res.Ratio <= 0 {
		t.Fatalf("want one fast and one stock sample and a ratio: %+v", res)
	}
	for _, s := range res.Samples {
		if s.Ready <= 0 || s.GuestUptime <= 0 {
			t.Fatalf("implausible sample %+v", s)
		}
	}
	t.Logf("fast/stock p50 ratio with one boot each: %.2f", res.Ratio)
	assertNothingLeft(t, state)
}
