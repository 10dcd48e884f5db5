package jobs

import (
	"bufio"
	"encoding/json"
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

	"github.com/vmctl/vmctl/autoscale"
)

func openJournal(t *testing.T, dir string) (*Journal, []Record) {
	t.Helper()
	j, recs, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, recs
}

func mustAppend(t *testing.T, j *Journal, recs ...Record) {
	t.Helper()
	for _, r := range recs {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
}

func journalBytes(t *testing.T, dir string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestJournalAppendReopenReplay(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "job") // OpenJournal makes it
	j, recs := openJournal(t, dir)
	if len(recs) != 0 {
		t.Fatalf("new journal has %d records", len(recs))
	}
	spec := &Spec{Name: "j", Timeout: autoscale.D(time.Minute), MaxAttempts: 3}
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	written := []Record{
		{Type: RecordJob, Time: now, Spec: spec, Partitions: 2, Native: true},
		{Type: RecordVM, Time: now, VM: "j-abc-0", Host: "h1"},
		{Type: RecordAttempt, Time: now, Partition: 0, Attempt: 1, VM: "j-abc-0", Host: "h1"},
		{Type: RecordAttempt, Time: now, Partition: 1, Attempt: 1, VM: "j-abc-0", Host: "h1"},
		{Type: RecordFailed, Time: now, Partition: 1, Attempt: 1, VM: "j-abc-0", Error: "exit code 1"},
		{Type: RecordResult, Time: now, Partition: 0, Attempt: 1, VM: "j-abc-0", Duration: 1500 * time.Millisecond, Result: json.RawMessage(`{"index":0,"stdout":"NDIK"}`)},
	}
	mustAppend(t, j, written...)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(Record{Type: RecordDone}); !errors.Is(err, ErrJournalClosed) {
		t.Errorf("append after close: %v, want ErrJournalClosed", err)
	}

	j2, got := openJournal(t, dir)
	if len(got) != len(written) {
		t.Fatalf("reopened: %d records, want %d", len(got), len(written))
	}
	for i := range written {
		a, _ := json.Marshal(written[i])
		b, _ := json.Marshal(got[i])
		if string(a) != string(b) {
			t.Errorf("record %d:\n got %s\nwant %s", i, b, a)
		}
	}
	st := Replay(got)
	if st.Job == nil || st.Job.Spec.Name != "j" || st.Job.Partitions != 2 || !st.Job.Native || st.Job.Spec.Timeout.Duration != time.Minute {
		t.Errorf("job record: %+v", st.Job)
	}
	if len(st.Done) != 1 || string(st.Done[0].Result) != `{"index":0,"stdout":"NDIK"}` || st.Done[0].Duration != 1500*time.Millisecond {
		t.Errorf("done: %+v", st.Done)
	}
	if st.Attempts[0] != 1 || st.Attempts[1] != 1 || st.Finished {
		t.Errorf("attempts %v finished %v", st.Attempts, st.Finished)
	}
	mustAppend(t, j2, Record{Type: RecordDone, Time: now})
	recs, err := ReadJournal(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	if !Replay(recs).Finished {
		t.Error("done record not replayed")
	}
}

func TestJournalWritesPartitionZero(t *testing.T) {
	dir := t.TempDir()
	j, _ := openJournal(t, dir)
	mustAppend(t, j, Record{Type: RecordResult, Partition: 0}, Record{Type: RecordVM, VM: "v"})
	lines := strings.Split(strings.TrimSpace(string(journalBytes(t, dir))), "\n")
	if !strings.Contains(lines[0], `"partition":0`) {
		t.Errorf("result record for partition 0 lacks it: %s", lines[0])
	}
	if strings.Contains(lines[1], `"partition"`) {
		t.Errorf("vm record has a partition: %s", lines[1])
	}
}

func TestJournalDropsATornLastLine(t *testing.T) {
	good := `{"type":"job","time":"2025-01-01T00:00:00Z","partitions":1}` + "\n"
	tests := []struct {
		name string
		tail string
	}{
		{"cut mid-record", `{"type":"result","time":"2025-01-01T00:0`},
		{"complete JSON without its newline", `{"type":"done","time":"2025-01-01T00:00:00Z"}`},
		{"zeros after a crash", "\x00\x00\x00\x00\x00\x00"},
		{"garbage with a newline", "\x00\x00{\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, journalName), []byte(good+tt.tail), 0o644); err != nil {
				t.Fatal(err)
			}
			if recs, err := ReadJournal(filepath.Join(dir, journalName)); err != nil || len(recs) != 1 {
				t.Fatalf("ReadJournal: %d records, %v", len(recs), err)
			}
			j, recs := openJournal(t, dir)
			if len(recs) != 1 || recs[0].Type != RecordJob {
				t.Fatalf("got %+v, want the job record alone", recs)
			}
			if got := string(journalBytes(t, dir)); got != good {
				t.Fatalf("torn line not truncated: %q", got)
			}
			mustAppend(t, j, Record{Type: RecordDone})
			j.Close()
			_, recs = openJournal(t, dir)
			if len(recs) != 2 || recs[1].Type != RecordDone {
				t.Errorf("after appending past the cut: %+v", recs)
			}
		})
	}
}

func TestJournalRefusesACorruptMiddleLine(t *testing.T) {
	dir := t.TempDir()
	data := `{"type":"job","time":"2025-01-01T00:00:00Z"}` + "\n" + "not json\n" + `{"type":"done","time":"2025-01-01T00:00:00Z"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, journalName), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := OpenJournal(dir)
	if !errors.Is(err, ErrCorruptJournal) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want ErrCorruptJournal naming line 2", err)
	}
	if got := string(journalBytes(t, dir)); got != data {
		t.Error("a corrupt journal was modified")
	}
	if _, err := ReadJournal(filepath.Join(dir, journalName)); !errors.Is(err, ErrCorruptJournal) {
		t.Errorf("ReadJournal: %v, want ErrCorruptJournal", err)
	}
}

func TestJournalConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	j, _ := openJournal(t, dir)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := j.Append(Record{Type: RecordAttempt, Partition: w*each + i, Attempt: 1, Error: strings.Repeat("x", 1000)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	j.Close()
	_, recs := openJournal(t, dir)
	st := Replay(recs)
	if len(recs) != writers*each || len(st.Attempts) != writers*each {
		t.Fatalf("%d records for %d partitions, want %d", len(recs), len(st.Attempts), writers*each)
	}
}

func TestJournalIsExclusive(t *testing.T) {
	dir := t.TempDir()
	j, _ := openJournal(t, dir)
	if _, _, err := OpenJournal(dir); !errors.Is(err, ErrJournalLocked) {
		t.Fatalf("second open: %v, want ErrJournalLocked", err)
	}
	j.Close()
	j2, _ := openJournal(t, dir) // the lock went with Close
	j2.Close()
}

// TestJournalSurvivesKill9 kills a process appending as fast as it can
// and checks that every record it acknowledged is there, whole.
func TestJournalSurvivesKill9(t *testing.T) {
	if dir := os.Getenv("VMCTL_JOURNAL_CHILD"); dir != "" {
		journalChild(dir)
		return
	}
	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestJournalSurvivesKill9$")
		cmd.Env = append(os.Environ(), "VMCTL_JOURNAL_CHILD="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := -1
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if n, err := strconv.Atoi(sc.Text()); err == nil {
				acked = n
				if n >= 20*(round+1) {
					break
				}
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if acked < 0 {
			t.Fatalf("round %d: the child acknowledged nothing", round)
		}
		j, recs, err := OpenJournal(dir)
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		j.Close()
		seen := map[string]bool{}
		for _, r := range recs {
			seen[r.VM] = true
		}
		for i := 0; i <= acked; i++ {
			if !seen[fmt.Sprintf("r%d-%d", round, i)] {
				t.Fatalf("round %d: acknowledged record %d lost", round, i)
			}
		}
	}
}

// journalChild appends until killed, printing each acknowledged number.
func journalChild(dir string) {
	j, recs, err := OpenJournal(dir)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	round := 0
	for _, r := range recs {
		if r.Type == RecordJob {
			round++
		}
	}
	j.Append(Record{Type: RecordJob})
	for i := 0; ; i++ {
		if err := j.Append(Record{Type: RecordVM, VM: fmt.Sprintf("r%d-%d", round, i), Error: strings.Repeat("y", 4000)}); err != nil {
			fmt.Println("append:", err)
			os.Exit(1)
		}
		fmt.Println(i)
	}
}
