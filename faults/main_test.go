//go:build faults

// Package faults is vmctl's fault suite, run by `make test-faults` after
// the integration tests. Each scenario boots real guests through libvirt
// (the minimal kernel, TCG here), breaks something on purpose and checks
// three things on every run: the behaviour (what failed, how, how fast),
// the exit codes, and that nothing the run made is left on the host
// (domain, agent socket, placement claim, scratch disk, state directory,
// and what `vmctl gc` would find).
//
// TestMain prints a table at the end (scenario, runs, passed, leftovers,
// time, and the figures each scenario measured) and writes it to
// bin/faults-table.txt and bin/faults-table.json. `-args -repeat N`
// multiplies every scenario's run count, for soaks.
//
// The suite fails, never skips, when libvirt, the binaries or the image
// are missing: it runs because CI asked for it.
package faults

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var repeat = flag.Int("repeat", 1, "multiply every scenario's run count by `N` (soaks)")

// suite is what TestMain found and made for every scenario.
var suite struct {
	root    string // the repository
	binDir  string // vmctl and vmctl-agent, as `make build` leaves them
	vmctl   string
	agent   string
	minimal string // the minimal-kernel image directory
	tmp     string // images and shares the suite builds; QEMU must reach it
	// gc is "vmctl gc" in its reporting mode when this vmctl has it;
	// nil otherwise.
	gc []string
	// gcNote says why gc findings are or are not counted.
	gcNote string
}

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	flag.Parse()
	if *repeat < 1 {
		fmt.Fprintf(os.Stderr, "fault suite: -repeat %d: give 1 or more\n", *repeat)
		return 2
	}
	if err := setupSuite(); err != nil {
		fmt.Fprintf(os.Stderr, "fault suite: %v\n", err)
		return 1
	}
	defer os.RemoveAll(suite.tmp)
	code := m.Run()
	if err := results.write(os.Stdout, suite.binDir); err != nil {
		fmt.Fprintf(os.Stderr, "fault suite: table: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// setupSuite checks what every scenario needs, so that a missing piece
// fails the suite once, with the fix, instead of every scenario.
func setupSuite() error {
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	suite.root = root
	suite.binDir = envOr("VMCTL_BIN", filepath.Join(root, "bin"))
	suite.vmctl = filepath.Join(suite.binDir, "vmctl")
	suite.agent = filepath.Join(suite.binDir, "vmctl-agent")
	for _, b := range []string{suite.vmctl, suite.agent} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%w: run `make build` first (or set VMCTL_BIN)", err)
		}
	}
	suite.minimal = envOr("VMCTL_MINIMAL_IMAGE_DIR", "/var/lib/vmctl/images-minimal")
	if out, err := exec.Command(suite.vmctl, "--image-dir", suite.minimal, "image", "show").CombinedOutput(); err != nil {
		return fmt.Errorf("the minimal-kernel image in %s: %v\n%s\nrun `make image-minimal`", suite.minimal, err, out)
	}
	if out, err := exec.Command(suite.vmctl, "-o", "json", "vm", "list").CombinedOutput(); err != nil {
		return fmt.Errorf("libvirt: vmctl vm list: %v\n%s\nrun scripts/setup-host.sh (libvirtd and virtlogd must run)", err, out)
	}
	suite.gc, suite.gcNote = probeGC()
	// QEMU runs as libvirt-qemu: images and shares built here must be
	// reachable by it, so this tree is open to read (MkdirTemp makes 0700).
	if suite.tmp, err = os.MkdirTemp("", "vmctl-faults-"); err != nil {
		return err
	}
	return os.Chmod(suite.tmp, 0o755)
}

// probeGC decides whether leftovers include `vmctl gc`'s findings. gc
// looks at the whole host: the suite only ever runs it in its reporting
// mode, since removing could take another user's VM mid-create.
func probeGC() ([]string, string) {
	help, err := exec.Command(suite.vmctl, "gc", "--help").CombinedOutput()
	switch {
	case err != nil:
		return nil, "vmctl has no gc command: its findings are not counted"
	case strings.Contains(string(help), "--yes"):
		// A dry run unless --yes.
		return []string{"gc"}, "vmctl gc (dry run) findings count as leftovers"
	case strings.Contains(string(help), "--dry-run"):
		return []string{"gc", "--dry-run"}, "vmctl gc --dry-run findings count as leftovers"
	}
	return nil, "vmctl gc has no dry run this suite knows: not run, its findings are not counted"
}

// goTool is the go command this test binary was built with, for building
// the fault suite's guest programs and running the fuzzers.
func goTool() string {
	g := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(g); err == nil {
		return g
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
