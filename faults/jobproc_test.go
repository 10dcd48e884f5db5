//go:build faults

package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmctl/vmctl/jobs"
)

// sleepJob is the job the job-level scenarios run: partition i prints and
// writes 7i+3 after sleeping, so a partition's duration is known, its
// output file exercises the result fetch, and the sum checks the reduce.
type sleepJob struct {
	partitions, pool, maxAttempts int
	sleep                         time.Duration
	hosts                         string // --hosts file, "" for the local host
}

// write puts the spec in the run's directory and returns its path.
func (j sleepJob) write(t *testing.T, r *runEnv) string {
	t.Helper()
	return j.writeAs(t, r, "job.yaml")
}

func (j sleepJob) writeAs(t *testing.T, r *runEnv, file string) string {
	t.Helper()
	spec := filepath.Join(r.tmp, file)
	body := fmt.Sprintf(`name: %s
vm: {vcpus: 1, memory_mib: 128}
pool: {size: %d}
workload:
  exec: ["sh", "-c", 'n=$((VMCTL_PARTITION*7+3)); echo $n > "$VMCTL_OUTPUT/n"; sleep %g; echo $n']
partition: {count: %d}
reduce: sum
timeout: 2m
max_attempts: %d
`, r.prefix, j.pool, j.sleep.Seconds(), j.partitions, j.maxAttempts)
	writeFile(t, spec, body)
	return spec
}

// want is the job's correct result.
func (j sleepJob) want() float64 {
	sum := 0
	for i := 0; i < j.partitions; i++ {
		sum += 7*i + 3
	}
	return float64(sum)
}

// native runs the same partitions natively (host processes, the same
// agent code) and checks they give want: the VM runs are compared with
// it. The sleeps only stretch the VM runs around their faults, so the
// native run skips them.
func (j sleepJob) native(t *testing.T, r *runEnv) float64 {
	t.Helper()
	quick := j
	quick.sleep = 0
	nspec := quick.writeAs(t, r, "native.yaml")
	res := r.mustVMCTL("-o", "json", "job", "run", "--native", nspec, "--dir", filepath.Join(r.jobsDir, "native"), "--agent", suite.agent)
	got := jobValue(t, res.stdout)
	if got != j.want() {
		t.Fatalf("native run: %v, want %v", got, j.want())
	}
	return got
}

// jobValue reads the result from `job run -o json`.
func jobValue(t *testing.T, stdout string) float64 {
	t.Helper()
	var out struct {
		Summary *jobs.Summary `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || out.Summary == nil || out.Summary.Result == nil {
		t.Fatalf("job output: %v\n%s", err, stdout)
	}
	return out.Summary.Result.Value
}

// jobProc is a vmctl job running in the background, its stderr kept line
// by line so the scenario can wait for a log line or a failpoint.
type jobProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	start time.Time

	mu     sync.Mutex
	lines  []string
	stdout strings.Builder
	newLn  chan struct{}
	done   chan struct{}
	res    result
}

// startJob starts `vmctl [global] job ARGS...` with extra environment
// (failpoints) and the run's directories. It is killed when the run ends.
func startJob(t *testing.T, r *runEnv, env []string, args ...string) *jobProc {
	t.Helper()
	cmd := r.command(args...)
	cmd.Env = append(os.Environ(), env...)
	p := &jobProc{t: t, cmd: cmd, newLn: make(chan struct{}, 1), done: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.stdout}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.newLn <- struct{}{}:
			default:
			}
		}
		err := cmd.Wait()
		p.mu.Lock()
		p.res = result{stdout: p.stdout.String(), stderr: strings.Join(p.lines, "\n"), took: time.Since(p.start)}
		if ee, ok := err.(*exec.ExitError); ok {
			p.res.code = ee.ExitCode()
		} else if err != nil {
			p.res.code = -1
		}
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// waitLine waits for a stderr line containing sub and returns it; the
// process ending or the limit passing fails the run.
func (p *jobProc) waitLine(sub string, limit time.Duration) string {
	p.t.Helper()
	deadline := time.After(limit)
	seen := 0
	for {
		p.mu.Lock()
		lines := p.lines[seen:]
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if strings.Contains(l, sub) {
				return l
			}
		}
		select {
		case <-p.newLn:
		case <-p.done:
			p.mu.Lock()
			rest := p.lines[seen:]
			p.mu.Unlock()
			for _, l := range rest {
				if strings.Contains(l, sub) {
					return l
				}
			}
			p.t.Fatalf("vmctl ended (exit %d) without printing %q:\n%s", p.res.code, sub, p.res.stderr)
		case <-deadline:
			p.mu.Lock()
			all := strings.Join(p.lines, "\n")
			p.mu.Unlock()
			p.t.Fatalf("no %q from vmctl within %s:\n%s", sub, limit, all)
		}
	}
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *jobProc) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill -9 vmctl: %v", err)
	}
	<-p.done
}

// wait waits for the job to end, at most limit.
func (p *jobProc) wait(limit time.Duration) result {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		p.t.Fatalf("job did not end within %s:\n%s", limit, p.res.stderr)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res
}

// journal reads a job's journal (fatal if unreadable).
func journal(t *testing.T, dir string) []jobs.Record {
	t.Helper()
	recs, err := jobs.ReadJournal(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		t.Fatalf("journal of %s: %v", dir, err)
	}
	return recs
}

// waitJournal polls the journal until pred holds for one of its records.
func waitJournal(t *testing.T, dir string, limit time.Duration, pred func(jobs.Record) bool) jobs.Record {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		recs, _ := jobs.ReadJournal(filepath.Join(dir, "journal.jsonl"))
		for _, rec := range recs {
			if pred(rec) {
				return rec
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no such journal record in %s within %s", dir, limit)
	return jobs.Record{}
}

// resultsOnce checks that every partition has exactly one result record.
func resultsOnce(t *testing.T, dir string, partitions int) {
	t.Helper()
	per := map[int]int{}
	for _, rec := range journal(t, dir) {
		if rec.Type == jobs.RecordResult {
			per[rec.Partition]++
		}
	}
	for i := 0; i < partitions; i++ {
		if per[i] != 1 {
			t.Errorf("partition %d has %d result records, want exactly 1", i, per[i])
		}
	}
}

// The host's own libvirtd (not a test host's: those live in their own
// network namespaces with their own pid files).
const libvirtdPidFile = "/run/libvirtd.pid"

func libvirtdPid() (int, error) {
	raw, err := os.ReadFile(libvirtdPidFile)
	if err != nil {
		return 0, err
	}
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(string(raw)), &pid); err != nil {
		return 0, fmt.Errorf("%s: %w", libvirtdPidFile, err)
	}
	return pid, nil
}

// stopLibvirtd stops the host's libvirtd (SIGTERM) and waits until it is
// gone. Running guests keep running: QEMU does not depend on it.
func stopLibvirtd(t *testing.T) {
	t.Helper()
	pid, err := libvirtdPid()
	if err != nil {
		t.Fatalf("libvirtd pid: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stop libvirtd %d: %v", pid, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("libvirtd %d still running 30 s after SIGTERM", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startLibvirtd starts it again and waits until qemu:///system answers;
// it returns when it answered.
func startLibvirtd(t *testing.T) time.Time {
	t.Helper()
	if out, err := exec.Command("libvirtd", "-d").CombinedOutput(); err != nil {
		t.Fatalf("start libvirtd: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := exec.CommandContext(ctx, "virsh", "-c", "qemu:///system", "version").Run()
		cancel()
		if err == nil {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("qemu:///system does not answer 30 s after starting libvirtd")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ensureLibvirtd makes sure the host's libvirtd runs when the run ends,
// whatever happened: every later scenario needs it.
func ensureLibvirtd(t *testing.T) {
	t.Cleanup(func() {
		if pid, err := libvirtdPid(); err == nil && syscall.Kill(pid, 0) == nil {
			return
		}
		startLibvirtd(t)
	})
}
