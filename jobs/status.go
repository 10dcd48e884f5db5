package jobs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Status is a job directory read back from its journal.
type Status struct {
	Name       string    `json:"name"`
	Dir        string    `json:"dir"`
	State      string    `json:"state"` // done, or incomplete (running, or its vmctl died: resume it)
	Native     bool      `json:"native,omitempty"`
	Partitions int       `json:"partitions"`
	Done       int       `json:"done"`
	Attempts   int       `json:"attempts"`
	Failures   int       `json:"failed_attempts"`
	Workers    []string  `json:"workers,omitempty"`
	Started    time.Time `json:"started"`
	LastError  string    `json:"last_error,omitempty"`
	Spec       *Spec     `json:"spec"`
}

// ErrNoJob: the directory holds no journal.
var ErrNoJob = errors.New("no job here")

// ReadStatus replays dir's journal without changing it.
func ReadStatus(dir string) (*Status, error) {
	path := filepath.Join(dir, journalName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s: %w (no %s): give a directory `vmctl job run` made", dir, ErrNoJob, journalName)
	}
	recs, err := ReadJournal(path)
	if err != nil {
		return nil, err
	}
	st := Replay(recs)
	if st.Job == nil || st.Job.Spec == nil {
		return nil, fmt.Errorf("%s: %w: the journal has no job record", dir, ErrNoJob)
	}
	s := &Status{Name: st.Job.Spec.Name, Dir: dir, State: "incomplete", Native: st.Job.Native, Partitions: st.Job.Partitions,
		Done: len(st.Done), Workers: st.VMs, Started: st.Job.Time, Spec: st.Job.Spec}
	if st.Finished {
		s.State = "done"
	}
	for _, r := range recs {
		switch r.Type {
		case "attempt":
			s.Attempts++
		case "failed":
			s.Failures++
			s.LastError = fmt.Sprintf("partition %d attempt %d on %s: %s", r.Partition, r.Attempt, r.VM, r.Error)
		}
	}
	return s, nil
}

// List reads every job directory under parent, newest first.
func List(parent string) ([]*Status, error) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, err
	}
	var out []*Status
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if st, err := ReadStatus(filepath.Join(parent, e.Name())); err == nil {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out, nil
}
