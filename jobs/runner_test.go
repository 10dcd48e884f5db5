package jobs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// The runner's tests use native workers: real host processes behind a
// real agent over a pipe, the same path a VM's partitions take minus the
// VM. VM behaviour is covered by the integration tests.

func execSpec(t *testing.T, script string, count, pool, slots, attempts int) *Spec {
	t.Helper()
	body := fmt.Sprintf("name: t\npool: {size: %d, slots: %d}\nworkload:\n  exec: [\"sh\", \"-c\", %q]\npartition: {count: %d}\nreduce: sum\ntimeout: 30s\nmax_attempts: %d\n",
		pool, slots, script, count, attempts)
	return mustParse(t, body)
}

// mustParse parses a spec written in a test.
func mustParse(t *testing.T, body string) *Spec {
	t.Helper()
	s, err := Parse([]byte(body), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetLevel(logrus.ErrorLevel)
	return l
}

func runNative(t *testing.T, s *Spec, dir string, wrap func(Provider) Provider) (*Summary, error) {
	t.Helper()
	var p Provider = &NativeProvider{Spec: s, WorkDir: filepath.Join(dir, "native-work")}
	if wrap != nil {
		p = wrap(p)
	}
	r := &Runner{Spec: s, Dir: dir, Provider: p, Log: quietLog()}
	return r.Run(context.Background())
}

func resultsPerPartition(t *testing.T, dir string) map[int]int {
	t.Helper()
	recs, err := ReadJournal(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	n := map[int]int{}
	for _, r := range recs {
		if r.Type == "result" {
			n[r.Partition]++
		}
	}
	return n
}

func TestRunnerSumsEveryPartitionOnce(t *testing.T) {
	s := execSpec(t, `echo "$VMCTL_PARTITION"`, 7, 2, 2, 1)
	dir := t.TempDir()
	sum, err := runNative(t, s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Result.Value != 21 || sum.Done != 7 || sum.Attempts != 7 {
		t.Fatalf("summary %+v result %+v", sum, sum.Result)
	}
	for i, n := range resultsPerPartition(t, dir) {
		if n != 1 {
			t.Errorf("partition %d has %d results", i, n)
		}
	}
}

func TestRunnerRetriesAFailedPartitionOnAnotherWorker(t *testing.T) {
	marks := t.TempDir()
	// Each partition fails its first attempt, then succeeds.
	script := fmt.Sprintf(`m=%s/$VMCTL_PARTITION; if [ -e $m ]; then echo 1; else touch $m; echo first try fails >&2; exit 3; fi`, marks)
	s := execSpec(t, script, 4, 2, 1, 2)
	dir := t.TempDir()
	sum, err := runNative(t, s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Result.Value != 4 || sum.Failures != 4 || sum.Attempts != 8 {
		t.Fatalf("summary %+v", sum)
	}
	recs, _ := ReadJournal(filepath.Join(dir, journalName))
	failedOn := map[int]string{}
	movedElsewhere := 0
	for _, r := range recs {
		switch r.Type {
		case "failed":
			failedOn[r.Partition] = r.VM
			if !strings.Contains(r.Error, "first try fails") {
				t.Errorf("failure lacks the command's stderr: %q", r.Error)
			}
		case "result":
			if r.VM != failedOn[r.Partition] {
				movedElsewhere++
			}
		}
	}
	if movedElsewhere == 0 {
		t.Fatal("no retry ran on another worker")
	}
}

func TestRunnerGivesUpAfterMaxAttempts(t *testing.T) {
	s := execSpec(t, `if [ "$VMCTL_PARTITION" = 2 ]; then echo boom >&2; exit 7; fi; echo 1`, 4, 1, 1, 3)
	dir := t.TempDir()
	_, err := runNative(t, s, dir, nil)
	if !errors.Is(err, ErrPartitionFailed) {
		t.Fatalf("err %v, want ErrPartitionFailed", err)
	}
	for _, want := range []string{"partition 2", "3 times", "exit code 7", "boom"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	st, err := ReadStatus(dir)
	if err != nil || st.State != "incomplete" || st.Failures != 3 {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestRunnerTimesOutAPartition(t *testing.T) {
	body := "name: t\nworkload: {exec: [sleep, \"30\"]}\npartition: {count: 1}\ntimeout: 1s\nmax_attempts: 1\n"
	s := mustParse(t, body)
	_, err := runNative(t, s, t.TempDir(), nil)
	if !errors.Is(err, ErrPartitionFailed) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err %v", err)
	}
}

// losingProvider cuts the first worker's agent connection shortly after
// it starts, as a destroyed VM would.
type losingProvider struct {
	Provider
	once sync.Once
}

func (l *losingProvider) Start(ctx context.Context, name string) (*Worker, error) {
	w, err := l.Provider.Start(ctx, name)
	if err == nil {
		l.once.Do(func() { time.AfterFunc(300*time.Millisecond, func() { w.Client.Close() }) })
	}
	return w, err
}

func TestRunnerReplacesALostWorker(t *testing.T) {
	s := execSpec(t, `sleep 1; echo "$VMCTL_PARTITION"`, 4, 2, 1, 3)
	dir := t.TempDir()
	sum, err := runNative(t, s, dir, func(p Provider) Provider { return &losingProvider{Provider: p} })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Result.Value != 6 || sum.Failures < 1 || sum.Workers < 3 {
		t.Fatalf("summary %+v", sum)
	}
	for i, n := range resultsPerPartition(t, dir) {
		if n != 1 {
			t.Errorf("partition %d has %d results", i, n)
		}
	}
}

func TestRunnerResumeRunsOnlyUnfinishedPartitions(t *testing.T) {
	gate := t.TempDir()
	// Partition 3 fails until the gate file exists.
	script := fmt.Sprintf(`if [ "$VMCTL_PARTITION" = 3 ] && [ ! -e %s/open ]; then exit 1; fi; date +%%s%%N >> %s/runs-$VMCTL_PARTITION; echo "$VMCTL_PARTITION"`, gate, gate)
	s := execSpec(t, script, 5, 1, 1, 1)
	dir := t.TempDir()
	if _, err := runNative(t, s, dir, nil); !errors.Is(err, ErrPartitionFailed) {
		t.Fatalf("first run: %v", err)
	}
	if err := touch(filepath.Join(gate, "open")); err != nil {
		t.Fatal(err)
	}
	sum, err := runNative(t, s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first run stopped at partition 3 before 4 started: 0-2 are kept.
	if sum.Result.Value != 10 || sum.Resumed != 3 || sum.Attempts != 2 {
		t.Fatalf("resume summary %+v", sum)
	}
	for i := 0; i < 5; i++ {
		if runs := countLines(t, filepath.Join(gate, fmt.Sprintf("runs-%d", i))); runs != 1 {
			t.Errorf("partition %d ran %d times, want once", i, runs)
		}
	}
	for i, n := range resultsPerPartition(t, dir) {
		if n != 1 {
			t.Errorf("partition %d has %d results", i, n)
		}
	}
}

func TestExtractOutputsRefusesWhatEscapes(t *testing.T) {
	mk := func(hdrs ...*tar.Header) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, h := range hdrs {
			tw.WriteHeader(h)
			if h.Typeflag == tar.TypeReg {
				tw.Write(make([]byte, h.Size))
			}
		}
		tw.Close()
		return b.Bytes()
	}
	tests := []struct {
		name string
		tar  []byte
		want string
	}{
		{"dot-dot", mk(&tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}), "escapes"},
		{"absolute", mk(&tar.Header{Name: "/etc/evil", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}), "escapes"},
		{"symlink", mk(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}), "not a regular file"},
		{"duplicate", mk(&tar.Header{Name: "a", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, &tar.Header{Name: "a", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}), "exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, _, err := extractOutputs(tt.tar, filepath.Join(dir, "out"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestQueueSendsRetriesElsewhere(t *testing.T) {
	q := newQueue([]*task{{p: Partition{Index: 0}, lastWorker: "a"}, {p: Partition{Index: 1}}})
	two := func() int { return 2 }
	ctx := context.Background()
	got, _ := q.next(ctx, "a", two)
	if got.p.Index != 1 {
		t.Fatalf("worker a got partition %d, the one that failed on it", got.p.Index)
	}
	got, _ = q.next(ctx, "b", two)
	if got.p.Index != 0 {
		t.Fatalf("worker b got %d", got.p.Index)
	}
	// A lone worker takes its own retry at once.
	q = newQueue([]*task{{p: Partition{Index: 0}, lastWorker: "a"}})
	if got, ok := q.next(ctx, "a", func() int { return 1 }); !ok || got.p.Index != 0 {
		t.Fatal("lone worker did not take its retry")
	}
	q.finish(got, false)
	if _, ok := q.next(ctx, "a", two); ok {
		t.Fatal("queue not finished")
	}
}

func touch(path string) error { return os.WriteFile(path, nil, 0o644) }

func countLines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

func TestRunnerAutoscaledPoolGrowsFromBacklog(t *testing.T) {
	body := `name: t
pool:
  autoscale: {min: 1, max: 3, sync: 200ms, cooldown_out: 200ms, ceiling: {enabled: false}}
workload:
  exec: ["sh", "-c", "sleep 0.5; echo $VMCTL_PARTITION"]
partition: {count: 12}
reduce: sum
timeout: 30s
`
	s := mustParse(t, body)
	dir := t.TempDir()
	sum, err := runNative(t, s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Result.Value != 66 {
		t.Fatalf("sum %v, want 66", sum.Result.Value)
	}
	if sum.ScaleOuts < 1 || sum.MaxPool < 2 || sum.MaxPool > 3 || sum.Workers < 2 {
		t.Fatalf("pool did not grow within its bounds: %+v", sum)
	}
	for i, n := range resultsPerPartition(t, dir) {
		if n != 1 {
			t.Errorf("partition %d has %d results", i, n)
		}
	}
}

func TestQueueGivesADrainedWorkerNothing(t *testing.T) {
	q := newQueue([]*task{{p: Partition{Index: 0}}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := q.next(ctx, "a", func() int { return 1 }); ok {
		t.Fatal("a drained worker was handed a partition")
	}
}
