package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// journalName is the journal's file in a job directory.
const journalName = "journal.jsonl"

// Journal errors; test with errors.Is.
var (
	// ErrCorruptJournal: a line other than the last does not parse. A
	// crash only ever tears the last line, so this is damage from
	// elsewhere and the journal is not trusted.
	ErrCorruptJournal = errors.New("corrupt job journal")
	// ErrJournalLocked: another process has the job open.
	ErrJournalLocked = errors.New("job journal in use")
	// ErrJournalClosed: Append after Close, or after a failed write
	// that could not be undone.
	ErrJournalClosed = errors.New("job journal closed")
)

// Record types.
const (
	RecordJob     = "job"
	RecordVM      = "vm"
	RecordAttempt = "attempt"
	RecordResult  = "result"
	RecordFailed  = "failed"
	RecordDone    = "done"
)

// Record is one line of the journal.
type Record struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	// Partition is written for attempt, result and failed records even
	// when it is 0 (see MarshalJSON); absent, it reads back as 0 too.
	Partition  int             `json:"partition,omitempty"`
	Attempt    int             `json:"attempt,omitempty"`
	VM         string          `json:"vm,omitempty"`
	Host       string          `json:"host,omitempty"`
	Duration   time.Duration   `json:"duration_ns,omitempty"`
	Error      string          `json:"error,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"` // the partition's PartitionOutput
	Spec       *Spec           `json:"spec,omitempty"`   // on the job record
	Partitions int             `json:"partitions,omitempty"`
	Native     bool            `json:"native,omitempty"`
}

// MarshalJSON keeps "partition": 0 on the records about a partition, so a
// person reading the journal is not left guessing which one.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record // no methods: no recursion
	switch r.Type {
	case RecordAttempt, RecordResult, RecordFailed:
		return json.Marshal(struct {
			plain
			Partition int `json:"partition"` // shallower, so it wins over plain's
		}{plain(r), r.Partition})
	}
	return json.Marshal(plain(r))
}

// Journal is a job's append-only log: one JSON record per line, each
// fsynced before Append returns, so what Append acknowledged survives a
// kill -9 or a power cut. It holds an exclusive flock while open.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	size int64 // bytes of whole records; a failed write is cut back to it
	err  error // set once the file can no longer be trusted or is closed
}

// OpenJournal opens dir's journal, creating it (and dir) if missing, and
// returns the records already in it. A last line torn by a crash (cut
// short, or unparseable) is dropped and truncated away so appends start
// on a clean line; a bad line before the last is ErrCorruptJournal.
func OpenJournal(dir string) (*Journal, []Record, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("open journal: %w", err)
	}
	path := filepath.Join(dir, journalName)
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open journal: %w", err)
	}
	// flock goes with the process, kill -9 included, so a crashed run
	// never leaves the job locked.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, fmt.Errorf("open journal %s: %w: another vmctl is running this job", path, ErrJournalLocked)
		}
		return nil, nil, fmt.Errorf("lock journal %s: %w", path, err)
	}
	j, recs, err := loadJournal(f, path, created)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return j, recs, nil
}

func loadJournal(f *os.File, path string, created bool) (*Journal, []Record, error) {
	if created {
		// The new directory entry must be durable too, or a crash can
		// lose the whole file along with every fsync made to it.
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, nil, fmt.Errorf("create journal: %w", err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	recs, good, err := parseJournal(data, path)
	if err != nil {
		return nil, nil, err
	}
	if good < int64(len(data)) {
		if err := f.Truncate(good); err != nil {
			return nil, nil, fmt.Errorf("drop torn journal line: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, nil, fmt.Errorf("drop torn journal line: %w", err)
		}
	}
	return &Journal{f: f, size: good}, recs, nil
}

// ReadJournal reads the journal file at path without changing or locking
// it, for status while a job runs; a torn last line is ignored.
func ReadJournal(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	recs, _, err := parseJournal(data, path)
	return recs, err
}

// parseJournal returns the records and the length of the prefix holding
// them. Only the last line may be bad: it is what a crash tears.
func parseJournal(data []byte, path string) ([]Record, int64, error) {
	var recs []Record
	var off int64
	for line := 1; off < int64(len(data)); line++ {
		rest := data[off:]
		n := bytes.IndexByte(rest, '\n')
		last := n < 0 || off+int64(n)+1 == int64(len(data))
		if n < 0 {
			// Every record is written with its newline in one write, so
			// a line without one never finished.
			return recs, off, nil
		}
		var r Record
		if err := json.Unmarshal(rest[:n], &r); err != nil || r.Type == "" {
			if last {
				return recs, off, nil
			}
			if err == nil {
				err = errors.New("no record type")
			}
			return nil, 0, fmt.Errorf("%s line %d: %w: %v", path, line, ErrCorruptJournal, err)
		}
		recs = append(recs, r)
		off += int64(n) + 1
	}
	return recs, off, nil
}

// Append writes r as one line and fsyncs it. It is safe for concurrent use.
func (j *Journal) Append(r Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("journal %s record: %w", r.Type, err)
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if _, err := j.f.Write(line); err != nil {
		// Cut a partial line back off, or the next record would be
		// glued to it and the journal corrupt in the middle.
		if terr := j.f.Truncate(j.size); terr != nil {
			j.err = fmt.Errorf("%w: a failed write could not be undone: %v", ErrJournalClosed, terr)
		}
		return fmt.Errorf("append to journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		// After a failed fsync the page cache state is unknown; stop
		// rather than acknowledge records that may not be on disk.
		j.err = fmt.Errorf("%w: fsync failed: %v", ErrJournalClosed, err)
		return fmt.Errorf("sync journal: %w", err)
	}
	j.size += int64(len(line))
	return nil
}

// Close releases the file and its lock. Appends after Close fail.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	j.err = ErrJournalClosed
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
