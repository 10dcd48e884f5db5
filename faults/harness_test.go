//go:build faults

package faults

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
)

// scenario is one row of the table. A test makes one with newScenario and
// calls run (or runN) with the body of one run; each run gets fresh
// directories and a unique name prefix, and is checked for leftovers
// after the body and its cleanups have finished:
//
//	func TestScenario02LibvirtdRestart(t *testing.T) {
//		s := newScenario(t, "2 libvirtd restarted 5x mid-job")
//		s.run(func(t *testing.T, r *runEnv) {
//			name := r.name("a")
//			r.createVM(name)
//			...
//		})
//	}
type scenario struct {
	t   *testing.T
	num int // the number, from the name; 0 if it has none
	row *row
	seq int
}

// newScenario adds a row named name (it starts with the scenario
// number) to the table. The row's time runs until the test ends; a test
// that fails outside its runs counts as one more failed run.
func newScenario(t *testing.T, name string) *scenario {
	t.Helper()
	s := &scenario{t: t, num: scenarioNumber(name), row: results.add(name)}
	began := time.Now()
	t.Cleanup(func() {
		results.update(s.row, func(r *row) {
			r.Time = time.Since(began)
			if t.Failed() && r.Passed == r.Runs {
				r.Runs++
			}
		})
	})
	return s
}

// scenarioNumber is the number a scenario's name starts with (0 if none).
func scenarioNumber(name string) int {
	n, _ := strconv.Atoi(strings.SplitN(name, " ", 2)[0])
	return n
}

// figure records a measured figure in the table (and the test log).
func (s *scenario) figure(format string, args ...any) {
	s.t.Helper()
	f := fmt.Sprintf(format, args...)
	s.t.Log(f)
	results.update(s.row, func(r *row) { r.Figures = append(r.Figures, f) })
}

// run runs body -repeat times.
func (s *scenario) run(body func(t *testing.T, r *runEnv)) { s.runN(1, body) }

// runN runs body n × -repeat times, one subtest each.
func (s *scenario) runN(n int, body func(t *testing.T, r *runEnv)) {
	for range n * *repeat {
		s.seq++
		r := newRunEnv(s.t, s.num, s.seq)
		ok := s.t.Run(fmt.Sprintf("run%d", s.seq), func(t *testing.T) {
			r.t = t
			// Registered first, so it runs last: after the body's own
			// cleanups have removed what they made.
			t.Cleanup(func() {
				left := r.leftovers()
				for _, l := range left {
					t.Errorf("leftover %s", l)
				}
				r.removeLeftovers(left)
				results.update(s.row, func(row *row) { row.Leftovers += len(left) })
				_ = os.RemoveAll(r.base)
			})
			body(t, r)
		})
		results.update(s.row, func(row *row) {
			row.Runs++
			if ok {
				row.Passed++
			}
		})
	}
}

// runEnv is one run's world: its own state, claims and jobs directories,
// a scratch directory, and a prefix every name it makes contains.
type runEnv struct {
	t *testing.T
	// prefix is in the name of every VM of the run (job workers have
	// "j-PREFIX-..."): fNN-PID-RUN, fixed width so that no run's prefix
	// contains another's, and short enough to survive libvirt's
	// 20-character cut of the name in the agent socket's directory.
	prefix    string
	base      string // removed after the run
	stateDir  string
	claimsDir string
	jobsDir   string
	// tmp is for the run's files; open to QEMU (shares).
	tmp string
	// image is the --image-dir of vmctl commands: the minimal kernel
	// unless the run sets another.
	image string
}

func newRunEnv(t *testing.T, num, seq int) *runEnv {
	t.Helper()
	base, err := os.MkdirTemp(suite.tmp, fmt.Sprintf("f%02d-run%d-", num, seq))
	if err != nil {
		t.Fatal(err)
	}
	r := &runEnv{
		t:         t,
		prefix:    fmt.Sprintf("f%02d-%d-%03d", num, os.Getpid()%100000, seq),
		base:      base,
		stateDir:  filepath.Join(base, "state"),
		claimsDir: filepath.Join(base, "claims"),
		jobsDir:   filepath.Join(base, "jobs"),
		tmp:       filepath.Join(base, "tmp"),
		image:     suite.minimal,
	}
	for _, d := range []string{r.stateDir, r.claimsDir, r.jobsDir, r.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// QEMU must reach shares under tmp: every parent must be open.
	for _, d := range []string{base, r.tmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// name is a VM name of this run.
func (r *runEnv) name(suffix string) string { return r.prefix + "-" + suffix }

// ours tells whether a name or path belongs to this run.
func (r *runEnv) ours(s string) bool {
	return strings.Contains(s, r.prefix) || strings.HasPrefix(s, r.base+string(filepath.Separator))
}

// result is one finished vmctl process.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
	// maxRSSKiB is the process's peak resident set (getrusage).
	maxRSSKiB int64
}

// command is vmctl with the run's global flags.
func (r *runEnv) command(args ...string) *exec.Cmd {
	full := append([]string{"--state-dir", r.stateDir, "--claims-dir", r.claimsDir, "--image-dir", r.image}, args...)
	return exec.Command(suite.vmctl, full...)
}

// withImage is the run with another --image-dir for the vmctl commands
// that take one (vm create).
func (r *runEnv) withImage(dir string) *runEnv {
	c := *r
	c.image = dir
	return &c
}

// vmctl runs vmctl to the end; a non-zero exit is a result, not a failure.
func (r *runEnv) vmctl(args ...string) result {
	r.t.Helper()
	res, err := runCmd(r.command(args...), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

// libvirtDown says that vmctl could not reach libvirtd at all, or lost
// it: on a shared machine someone may be restarting it.
func libvirtDown(stderr string) bool {
	for _, e := range []error{hypervisor.ErrUnreachable, hypervisor.ErrConnectionLost} {
		if strings.Contains(stderr, e.Error()) {
			return true
		}
	}
	return false
}

// vmctlOnceReachable is vmctl for cleanups and checks: while libvirtd is
// down it waits and tries again (up to libvirtWait), so that a restart of
// the daemon does not leave a run's VMs behind or its check unanswered.
func (r *runEnv) vmctlOnceReachable(args ...string) result {
	r.t.Helper()
	deadline := time.Now().Add(libvirtWait)
	for {
		res := r.vmctl(args...)
		if res.code == 0 || !libvirtDown(res.stderr) || time.Now().After(deadline) {
			return res
		}
		time.Sleep(2 * time.Second)
	}
}

// libvirtWait is how long cleanups wait for libvirtd to come back.
const libvirtWait = 90 * time.Second

// mustVMCTL fails the run unless vmctl exits 0.
func (r *runEnv) mustVMCTL(args ...string) result {
	r.t.Helper()
	res := r.vmctl(args...)
	if res.code != 0 {
		r.t.Fatalf("vmctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res
}

// runCmd runs cmd and reports how it ended; the error is for a command
// that could not run at all. While it runs, sample (if set) is called
// with its pid every few milliseconds. Safe in any goroutine.
func runCmd(cmd *exec.Cmd, sample func(pid int)) (result, error) {
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	if sample != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				sample(cmd.Process.Pid)
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		}()
	}
	err := cmd.Wait()
	close(done)
	wg.Wait()
	res := result{stdout: so.String(), stderr: se.String(), took: time.Since(began), maxRSSKiB: maxRSS(cmd.ProcessState)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		return res, fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	return res, nil
}

// maxRSS is a finished process's peak resident set in KiB.
func maxRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}

// vmSpec is one VM for createVMs: its name, and vm create's flags beyond
// the defaults (128 MiB, 1 vCPU).
type vmSpec struct {
	name  string
	image string // "": the run's
	args  []string
}

// createVMs creates the VMs at once, one vmctl process each, removes them
// when the run ends, and fails the run unless every create succeeded.
func (r *runEnv) createVMs(specs ...vmSpec) []result {
	r.t.Helper()
	out := make([]result, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, sp := range specs {
		r.removeAtEnd(sp.name)
		env := r
		if sp.image != "" {
			env = r.withImage(sp.image)
		}
		cmd := env.command(append([]string{"vm", "create", sp.name, "--memory", "128", "--vcpus", "1"}, sp.args...)...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = runCmd(cmd, nil)
		}()
	}
	wg.Wait()
	for i, sp := range specs {
		switch {
		case errs[i] != nil:
			r.t.Error(errs[i])
		case out[i].code != 0:
			r.t.Errorf("vm create %s: exit %d\n%s", sp.name, out[i].code, out[i].stderr)
		}
	}
	if r.t.Failed() {
		r.t.FailNow()
	}
	return out
}

// createVM creates one VM of the run; see createVMs.
func (r *runEnv) createVM(name string, extra ...string) result {
	r.t.Helper()
	return r.createVMs(vmSpec{name: name, args: extra})[0]
}

// removeAtEnd removes the VM when the run ends, whatever happened; the
// leftover check that follows tells whether removal really worked.
func (r *runEnv) removeAtEnd(names ...string) {
	r.t.Cleanup(func() {
		res := r.vmctlOnceReachable(append([]string{"vm", "rm"}, names...)...)
		if res.code != 0 && !strings.Contains(res.stderr, "not found") {
			r.t.Errorf("vm rm %v: exit %d: %s", names, res.code, res.stderr)
		}
	})
}
