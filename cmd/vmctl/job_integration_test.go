//go:build integration

package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/jobs"
)

// jobEnv is a state dir plus a jobs dir for one test; its cleanup checks
// that no VM of the test's jobs survived.
func jobEnv(t *testing.T) (state, jobsDir string) {
	t.Helper()
	state, jobsDir = t.TempDir(), t.TempDir()
	t.Cleanup(func() { assertNoJobVMs(t, state) })
	return state, jobsDir
}

// assertNoJobVMs fails if any job VM of this test's state dir is left, and
// removes it. VMs of other vmctl users on the host (another test binary, an
// operator's job) are not this test's to judge or remove.
func assertNoJobVMs(t *testing.T, state string) {
	t.Helper()
	r := mustVMCTL(t, state, "-o", "json", "vm", "list")
	var vms []hypervisor.DomainInfo
	json.Unmarshal([]byte(r.stdout), &vms)
	for _, v := range vms {
		if v.Meta.Job != "" && ownedBy(v, state) {
			t.Errorf("job VM %s left behind", v.Name)
			vmctl(t, state, "vm", "rm", v.Name)
		}
	}
	if entries, _ := os.ReadDir(state); len(entries) > 0 {
		t.Errorf("state left in %s: %v", state, entries)
	}
}

type jobOut struct {
	Summary *jobs.Summary `json:"summary"`
	Native  *jobs.Summary `json:"native"`
	Ratio   *jobs.Ratio   `json:"ratio"`
}

func runJobJSON(t *testing.T, state string, args ...string) jobOut {
	t.Helper()
	r := mustVMCTL(t, state, append([]string{"-o", "json", "job", "run"}, args...)...)
	var out jobOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Summary == nil {
		t.Fatalf("job output: %v\n%s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return out
}

func testdataJob(name string) string { return filepath.Join("..", "..", "testdata", "jobs", name) }

func TestJobPrimes(t *testing.T) {
	state, dir := jobEnv(t)
	out := runJobJSON(t, state, testdataJob("primes.yaml"), "--dir", filepath.Join(dir, "primes"))
	if got := out.Summary.Result.Value; got != 664579 {
		t.Fatalf("primes below 10,000,000: got %v, want 664579", got)
	}
	if out.Summary.Done != out.Summary.Partitions || out.Summary.Workers < 1 {
		t.Fatalf("summary %+v", out.Summary)
	}
}

func TestJobWordcountEqualsNative(t *testing.T) {
	state, dir := jobEnv(t)
	jd := filepath.Join(dir, "wc")
	out := runJobJSON(t, state, testdataJob("wordcount.yaml"), "--dir", jd, "--compare-native")
	if out.Native == nil || out.Ratio == nil || out.Ratio.Throughput <= 0 {
		t.Fatalf("no native comparison: %+v", out)
	}
	// The CLI already refuses differing results; check the files too.
	vmCounts, err := os.ReadFile(filepath.Join(jd, "counts.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	natCounts, err := os.ReadFile(filepath.Join(jd, "native", "counts.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	if string(vmCounts) != string(natCounts) || len(vmCounts) == 0 {
		t.Fatalf("in-VM and native counts.tsv differ (%d vs %d bytes)", len(vmCounts), len(natCounts))
	}
	// And against a count made here, independently of the workload code.
	want := countWords(t, filepath.Join("..", "..", "testdata", "jobs", "corpus"))
	if int64(out.Summary.Result.Value) != want["\x00total"] || len(out.Summary.Result.Counts) != len(want)-1 {
		t.Fatalf("total %v / %d keys, independent count %d / %d keys", out.Summary.Result.Value, len(out.Summary.Result.Counts), want["\x00total"], len(want)-1)
	}
	for k, v := range out.Summary.Result.Counts {
		if want[k] != v {
			t.Fatalf("word %q: job %d, independent count %d", k, v, want[k])
		}
	}
}

// countWords counts lowercased runs of letters in every file of dir.
func countWords(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	counts := map[string]int64{}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range strings.FieldsFunc(string(data), func(r rune) bool { return !unicode.IsLetter(r) }) {
			counts[strings.ToLower(w)]++
			counts["\x00total"]++
		}
	}
	return counts
}

func TestJobShardedSha256EqualsNative(t *testing.T) {
	state, dir := jobEnv(t)
	jd := filepath.Join(dir, "sha")
	runJobJSON(t, state, testdataJob("sha256-files.yaml"), "--dir", jd, "--compare-native")
	vm, err := os.ReadFile(filepath.Join(jd, "result.txt"))
	if err != nil {
		t.Fatal(err)
	}
	nat, _ := os.ReadFile(filepath.Join(jd, "native", "result.txt"))
	if string(vm) != string(nat) {
		t.Fatalf("in-VM and native results differ:\n%s\n--\n%s", vm, nat)
	}
	// File by file, against hashes computed here.
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "jobs", "corpus", "*"))
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(vm)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			got[filepath.Base(f[1])] = f[0]
		}
	}
	if len(got) != len(files) {
		t.Fatalf("%d hashes for %d files:\n%s", len(got), len(files), vm)
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		sum := sha256.Sum256(data)
		if got[filepath.Base(f)] != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: job %s, want %x", f, got[filepath.Base(f)], sum)
		}
	}
	// Each partition's output directory came back to the host.
	outs, _ := filepath.Glob(filepath.Join(jd, "partitions", "p*", "files", "*.sha256"))
	if len(outs) != len(files) {
		t.Fatalf("%d output files came back, want %d", len(outs), len(files))
	}
}

// slowSumSpec is an exec job whose partitions each take a while and print
// their index, so the sum is known and a run can be disturbed mid-way.
func slowSumSpec(t *testing.T, dir string, parts int, sleep string) string {
	t.Helper()
	p := filepath.Join(dir, "slow.yaml")
	body := fmt.Sprintf(`name: slow
vm: {vcpus: 1, memory_mib: 256, accel: tcg}
pool: {size: 2, slots: 1}
workload:
  exec: ["sh", "-c", "sleep %s; echo $VMCTL_PARTITION"]
partition: {count: %d}
reduce: sum
timeout: 2m
max_attempts: 3
`, sleep, parts)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantSum(n int) float64 { return float64(n * (n - 1) / 2) }

func TestJobSurvivesDestroyedVM(t *testing.T) {
	state, dir := jobEnv(t)
	spec := slowSumSpec(t, dir, 6, "2")
	jd := filepath.Join(dir, "job")
	cmd := exec.Command(filepath.Join(binDir, "vmctl"), "--state-dir", state, "--image-dir", imageDir, "-o", "json", "job", "run", spec, "--dir", jd)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Destroy a VM behind vmctl's back while it runs a partition.
	victim := waitForRunningPartition(t, jd)
	if out, err := exec.Command("virsh", "-c", "qemu:///system", "destroy", victim).CombinedOutput(); err != nil {
		t.Fatalf("virsh destroy %s: %v %s", victim, err, out)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("job failed after a VM was destroyed: %v\n%s", err, stderr.String())
	}
	var out jobOut
	if err := json.Unmarshal([]byte(stdout.String()), &out); err != nil {
		t.Fatal(err)
	}
	if out.Summary.Result.Value != wantSum(6) {
		t.Fatalf("sum %v, want %v", out.Summary.Result.Value, wantSum(6))
	}
	if out.Summary.Failures < 1 || out.Summary.Workers < 3 {
		t.Fatalf("no failed attempt or no replacement VM recorded: %+v", out.Summary)
	}
	assertExactlyOnce(t, jd, 6)
}

// waitForRunningPartition waits until the journal shows an attempt
// started on a VM, and returns that VM.
func waitForRunningPartition(t *testing.T, jd string) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if recs, err := jobs.ReadJournal(filepath.Join(jd, "journal.jsonl")); err == nil {
			for _, r := range recs {
				if r.Type == "attempt" {
					return r.VM
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no partition started within 3 minutes")
	return ""
}

// assertExactlyOnce checks every partition has exactly one result record.
func assertExactlyOnce(t *testing.T, jd string, parts int) {
	t.Helper()
	recs, err := jobs.ReadJournal(filepath.Join(jd, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for _, r := range recs {
		if r.Type == "result" {
			seen[r.Partition]++
		}
	}
	var idx []int
	for i := 0; i < parts; i++ {
		if seen[i] != 1 {
			idx = append(idx, i)
		}
	}
	if len(idx) > 0 || len(seen) != parts {
		sort.Ints(idx)
		t.Fatalf("partitions without exactly one result: %v (results %v)", idx, seen)
	}
}

func TestJobKilledAndResumed(t *testing.T) {
	state, dir := jobEnv(t)
	spec := slowSumSpec(t, dir, 8, "1")
	jd := filepath.Join(dir, "job")
	cmd := exec.Command(filepath.Join(binDir, "vmctl"), "--state-dir", state, "--image-dir", imageDir, "job", "run", spec, "--dir", jd, "--no-progress")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once some, not all, partitions are journaled.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		recs, _ := jobs.ReadJournal(filepath.Join(jd, "journal.jsonl"))
		n := 0
		for _, r := range recs {
			if r.Type == "result" {
				n++
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no results within 3 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	st := mustVMCTL(t, state, "-o", "json", "job", "status", jd)
	var status jobs.Status
	json.Unmarshal([]byte(st.stdout), &status)
	if status.State != "incomplete" || status.Done < 2 || status.Done >= 8 {
		t.Fatalf("status after kill: %+v", status)
	}

	r := mustVMCTL(t, state, "-o", "json", "job", "resume", jd)
	var out jobOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if out.Summary.Result.Value != wantSum(8) {
		t.Fatalf("sum after resume %v, want %v", out.Summary.Result.Value, wantSum(8))
	}
	if out.Summary.Resumed < 2 {
		t.Fatalf("resume reran finished partitions: %+v", out.Summary)
	}
	assertExactlyOnce(t, jd, 8)
}

func TestJobBadInput(t *testing.T) {
	state, dir := jobEnv(t)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("x\n"), 0o644)
	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	os.WriteFile(filepath.Join(in, "a.txt"), []byte("a b\n"), 0o644)
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(in, "link.txt"))

	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	base := "name: bad\nworkload: {builtin: wordcount}\nreduce: sum\n"
	tests := []struct {
		name, spec, errHas string
	}{
		{"unknown field", write("u.yaml", base+"inputs: in\npartition: {by: files}\ncolour: blue\n"), "colour"},
		{"negative count", write("n.yaml", "name: bad\nworkload: {builtin: primes, args: {to: \"100\"}}\npartition: {count: -3}\n"), "partition.count"},
		{"missing inputs", write("m.yaml", base+"inputs: nowhere\npartition: {by: files}\n"), "nowhere"},
		{"symlink escape", write("s.yaml", base+"inputs: in\npartition: {by: files}\n"), "link.txt"},
		{"share missing", write("sh.yaml", base+"inputs: in\npartition: {by: files, glob: a.txt}\nvm: {shares: [{path: /nonexistent/vmctl, tag: data}]}\n"), "/nonexistent/vmctl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := vmctl(t, state, "job", "run", tt.spec, "--dir", filepath.Join(dir, "out-"+tt.name))
			if r.code == 0 || !strings.Contains(r.stderr, tt.errHas) {
				t.Fatalf("code %d stderr %q, want failure naming %q", r.code, r.stderr, tt.errHas)
			}
			if _, err := os.Stat(filepath.Join(dir, "out-"+tt.name, "journal.jsonl")); err == nil {
				t.Fatal("a job directory was started for a bad spec")
			}
		})
	}

	// A command that cannot run fails its partition with the shell's
	// stderr after max_attempts, and the job with it.
	spec := write("cmd.yaml", "name: badcmd\npool: {size: 1}\nworkload: {exec: [\"/no/such/binary\"]}\npartition: {count: 1}\nmax_attempts: 2\n")
	r := vmctl(t, state, "job", "run", spec, "--dir", filepath.Join(dir, "badcmd"), "--no-progress")
	if r.code == 0 || !strings.Contains(r.stderr, "partition 0 failed 2 times") || !strings.Contains(r.stderr, "/no/such/binary") {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
}

func TestBenchDispatch(t *testing.T) {
	state := t.TempDir()
	t.Cleanup(func() { assertNothingLeft(t, state) })
	r := mustVMCTL(t, state, "-o", "json", "bench", "dispatch", "--count", "20")
	var res []jobs.DispatchStats
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res) != 2 {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	for _, s := range res {
		if s.Count != 20 || s.Exec.P50 <= 0 || s.Exec.P99 < s.Exec.P50 || s.Partition.P50 < s.Exec.Min {
			t.Errorf("implausible dispatch stats %+v", s)
		}
		if len(s.Channel) != 3 || s.ChannelBytes != 32<<20 || s.Channel[0] <= 0 {
			t.Errorf("%s: channel throughput %v MB/s over %d bytes", s.Worker, s.Channel, s.ChannelBytes)
		}
	}
	if res[0].Worker != "native-dispatch" || !strings.HasPrefix(res[1].Worker, "vmctl-bench-dispatch-") {
		t.Errorf("workers %q and %q, want native then a VM", res[0].Worker, res[1].Worker)
	}
}

// TestJobWordcount50MB is the yardstick on a 2-core host: 50 MB of
// text, 4 partitions on 2 VMs, with the in-VM/native ratio reported.
func TestJobWordcount50MB(t *testing.T) {
	state, dir := jobEnv(t)
	// QEMU runs as its own user and must reach the inputs over 9p.
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	corpus := filepath.Join(dir, "corpus")
	if out, err := exec.Command(filepath.Join("..", "..", "scripts", "make-corpus.sh"), corpus, "50", "2").CombinedOutput(); err != nil {
		t.Fatalf("make-corpus: %v\n%s", err, out)
	}
	spec := filepath.Join(dir, "wc.yaml")
	os.WriteFile(spec, []byte("name: wc50\nvm: {vcpus: 1, memory_mib: 256}\npool: {size: 2}\ninputs: corpus\nworkload: {builtin: wordcount}\npartition: {by: bytes, count: 4}\nreduce: sum\ntimeout: 10m\n"), 0o644)
	out := runJobJSON(t, state, spec, "--dir", filepath.Join(dir, "job"), "--compare-native")
	s := out.Summary
	if s.Done != 4 || s.InputBytes < 49e6 || out.Ratio == nil || out.Ratio.Throughput <= 0 || out.Ratio.Throughput >= 10 {
		t.Fatalf("summary %+v ratio %+v", s, out.Ratio)
	}
	workers := map[string]bool{}
	for _, r := range s.Rows {
		workers[r.Worker] = true
	}
	if len(workers) != 2 {
		t.Errorf("partitions ran on %d VMs, want 2: %v", len(workers), workers)
	}
	t.Logf("wordcount %.1f MB: in VMs %.2f MB/s overall, %.2f MB/s while working; native %.2f / %.2f MB/s; ratio %.3f overall, %.3f while working",
		float64(s.InputBytes)/1e6, s.InputMBPerSec, s.RunMBPerSec, out.Native.InputMBPerSec, out.Native.RunMBPerSec, out.Ratio.Throughput, out.Ratio.RunThroughput)
}

// TestJobAutoscaledBurst runs a CPU-bound burst on an autoscaled pool with
// a warm VM: the pool grows from one VM, stays within its bounds, resumes
// the warm VM rather than booting when it can, draws the timeline, and
// leaves nothing behind.
func TestJobAutoscaledBurst(t *testing.T) {
	state, dir := jobEnv(t)
	spec := filepath.Join(dir, "burst.yaml")
	data, err := os.ReadFile(testdataJob("primes-autoscale.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(data), "    max: 4\n", "    max: 4\n    warm: 1\n", 1)
	if body == string(data) {
		t.Fatal("could not add a warm pool to the example")
	}
	os.WriteFile(spec, []byte(body), 0o644)
	timeline := filepath.Join(dir, "timeline.svg")
	out := runJobJSON(t, state, spec, "--dir", filepath.Join(dir, "job"), "--timeline", timeline)
	s := out.Summary
	if s.Result.Value != 712799821 {
		t.Fatalf("primes below 1.6e10: %v, want 712799821", s.Result.Value)
	}
	if s.ScaleOuts < 1 || s.Workers < 2 || s.MaxPool > 4 {
		t.Fatalf("autoscaler: %d scale-outs, %d workers, at most %d VMs (max 4)", s.ScaleOuts, s.Workers, s.MaxPool)
	}
	kinds := map[string]int{}
	for _, st := range s.Starts {
		kinds[st.Kind]++
	}
	if kinds["warm"] < 1 {
		t.Errorf("no warm start although a warm VM was kept: %+v", s.Starts)
	}
	svg, err := os.ReadFile(timeline)
	if err != nil || !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "primes-burst") {
		t.Fatalf("timeline: %v (%d bytes)", err, len(svg))
	}
	t.Logf("burst: makespan %s, %.1f VM-seconds, %d scale-outs, %d scale-ins, max %d VMs, ceiling %q, decisions %v, backlog ticks by ready VMs %v, starts %+v",
		s.Makespan, s.VMSeconds, s.ScaleOuts, s.ScaleIns, s.MaxPool, s.Ceiling, s.DecisionCounts, s.BacklogTicks, s.Starts)
	// On this 2-core host 1-vCPU VMs scale to 2: the pool must get there
	// and stay there while partitions wait, with no false ceiling at 1.
	if strings.HasPrefix(s.Ceiling, "1→") {
		t.Errorf("false ceiling at 1 VM: %s", s.Ceiling)
	}
	if share := shareAtLeast(s.BacklogTicks, 2); share < 0.7 {
		t.Errorf("2 or more VMs ready for %.0f%% of the ticks with work queued, want 70%% or more: %v", share*100, s.BacklogTicks)
	}
	if s.DecisionCounts["scale out"] < 1 || len(s.DecisionCounts) < 2 {
		t.Errorf("decision counts %v: want the scale-outs and holds counted", s.DecisionCounts)
	}
}

// shareAtLeast is the share of ticks (by ready VMs) with n or more ready,
// leaving out ticks with none ready (the pool's first boot).
func shareAtLeast(ticks map[int]int, n int) float64 {
	var at, all int
	for ready, c := range ticks {
		if ready == 0 {
			continue
		}
		all += c
		if ready >= n {
			at += c
		}
	}
	if all == 0 {
		return 0
	}
	return float64(at) / float64(all)
}

// TestJobAutoscaledTrueCeiling: 2-vCPU VMs each running 2 partitions on a
// 2-core host. One VM already uses both cores, so a second adds nothing:
// the probe (the host prior is off, as for a remote fleet) must find the
// ceiling at 1, and the pool must end the burst at 1.
func TestJobAutoscaledTrueCeiling(t *testing.T) {
	state, dir := jobEnv(t)
	out := runJobJSON(t, state, testdataJob("primes-contention.yaml"), "--dir", filepath.Join(dir, "job"))
	s := out.Summary
	t.Logf("contention: makespan %s, %.1f VM-seconds, max %d VMs, ceiling %q, decisions %v, backlog ticks %v",
		s.Makespan, s.VMSeconds, s.MaxPool, s.Ceiling, s.DecisionCounts, s.BacklogTicks)
	if s.Result.Value != 712799821 {
		t.Fatalf("primes below 1.6e10: %v, want 712799821", s.Result.Value)
	}
	if !strings.HasPrefix(s.Ceiling, "1→2 VMs") || !strings.Contains(s.Ceiling, "interval") {
		t.Fatalf("ceiling %q, want one found at 1 VM with its interval", s.Ceiling)
	}
}

// TestJobAutoscaledWaves: two bursts 20 s apart. In the lull the idle pool
// scales in to zero; the second burst scales it out again from the warm
// VM. Between the two every VM is gone (nothing leaks) and the answer is
// still exact.
func TestJobAutoscaledWaves(t *testing.T) {
	state, dir := jobEnv(t)
	spec := filepath.Join(dir, "waves.yaml")
	os.WriteFile(spec, []byte(`name: waves
vm: {vcpus: 1, memory_mib: 256}
pool:
  autoscale: {min: 0, max: 2, warm: 1, scale_down_window: 4s, idle_timeout: 4s}
workload: {builtin: primes, args: {to: "1000000000"}}
partition: {count: 8}
reduce: sum
`), 0o644)
	out := runJobJSON(t, state, spec, "--dir", filepath.Join(dir, "job"), "--waves", "2", "--wave-every", "20s")
	s := out.Summary
	if s.Result.Value != 50847534 {
		t.Fatalf("primes below 1e9: %v, want 50847534", s.Result.Value)
	}
	if s.ScaleIns < 1 || s.ScaleOuts < 1 {
		t.Fatalf("a lull between two waves must scale in and the next wave out: %d scale-ins, %d scale-outs", s.ScaleIns, s.ScaleOuts)
	}
	if s.Makespan < 20*time.Second {
		t.Fatalf("makespan %s: the second wave was released before its time", s.Makespan)
	}
	kinds := map[string]int{}
	for _, st := range s.Starts {
		kinds[st.Kind]++
	}
	if kinds["warm"] < 1 || s.PausedSeconds <= 0 {
		t.Errorf("the second wave should resume the paused warm VM: starts %+v, paused %.1f s", s.Starts, s.PausedSeconds)
	}
	t.Logf("waves: makespan %s, %.1f VM-seconds (+%.1f paused), %d scale-outs, %d scale-ins, starts %+v",
		s.Makespan, s.VMSeconds, s.PausedSeconds, s.ScaleOuts, s.ScaleIns, s.Starts)
}

func TestPoolRunServesASpool(t *testing.T) {
	state, dir := jobEnv(t)
	spool := filepath.Join(dir, "spool")
	os.MkdirAll(spool, 0o755)
	good := "name: a\npool:\n  autoscale: {min: 1, max: 2}\nworkload: {exec: [\"sh\", \"-c\", \"echo $VMCTL_PARTITION\"]}\npartition: {count: 4}\nreduce: sum\n"
	os.WriteFile(filepath.Join(spool, "1-good.yaml"), []byte(good), 0o644)
	os.WriteFile(filepath.Join(spool, "2-bad.yaml"), []byte("name: b\ncolour: red\n"), 0o644)
	r := vmctl(t, state, "pool", "run", "--spool", spool, "--once", "--no-progress")
	if r.code != 0 {
		t.Fatalf("pool run: %d %s", r.code, r.stderr)
	}
	res, err := os.ReadFile(filepath.Join(spool, "done", "1-good.job", "result.json"))
	if err != nil || !strings.Contains(string(res), `"value": 6`) {
		t.Fatalf("good job result: %v %s", err, res)
	}
	msg, err := os.ReadFile(filepath.Join(spool, "failed", "2-bad.error"))
	if err != nil || !strings.Contains(string(msg), "colour") {
		t.Fatalf("bad job: %v %s", err, msg)
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "*.yaml")); len(left) != 0 {
		t.Fatalf("specs left in the spool: %v", left)
	}
}
