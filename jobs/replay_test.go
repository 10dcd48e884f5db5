package jobs

import (
	"reflect"
	"testing"
)

func TestReplay(t *testing.T) {
	recs := []Record{
		{Type: RecordJob, Partitions: 3},
		{Type: RecordVM, VM: "a"},
		{Type: RecordVM, VM: "b"},
		{Type: RecordAttempt, Partition: 0, Attempt: 1, VM: "a"},
		{Type: RecordAttempt, Partition: 1, Attempt: 1, VM: "b"},
		{Type: RecordFailed, Partition: 1, Attempt: 1, VM: "b"},
		{Type: RecordVM, VM: "a"}, // seen again (a resumed run): listed once
		{Type: RecordAttempt, Partition: 1, Attempt: 2, VM: "a"},
		{Type: RecordResult, Partition: 1, Attempt: 2, VM: "a", Result: []byte(`"first"`)},
		{Type: RecordResult, Partition: 0, Attempt: 1, VM: "a", Result: []byte(`"zero"`)},
		{Type: RecordResult, Partition: 1, Attempt: 3, VM: "b", Result: []byte(`"second"`)}, // duplicate: ignored
		{Type: RecordJob, Partitions: 99},                                                   // a second job record does not replace the first
	}
	st := Replay(recs)
	if st.Job == nil || st.Job.Partitions != 3 {
		t.Errorf("job = %+v, want the first job record", st.Job)
	}
	if !reflect.DeepEqual(st.VMs, []string{"a", "b"}) {
		t.Errorf("vms = %v", st.VMs)
	}
	if want := map[int]int{0: 1, 1: 2}; !reflect.DeepEqual(st.Attempts, want) {
		t.Errorf("attempts = %v, want %v", st.Attempts, want)
	}
	if len(st.Done) != 2 || string(st.Done[1].Result) != `"first"` || st.Done[1].VM != "a" || string(st.Done[0].Result) != `"zero"` {
		t.Errorf("done = %+v: the first result of each partition must win", st.Done)
	}
	if _, ok := st.Done[2]; ok || st.Finished {
		t.Errorf("partition 2 done or job finished without records saying so")
	}
	if !Replay(append(recs, Record{Type: RecordDone})).Finished {
		t.Error("done record not seen")
	}
}

func TestReplayEmpty(t *testing.T) {
	st := Replay(nil)
	if st.Job != nil || st.Finished || len(st.Done) != 0 || st.Done == nil || st.Attempts == nil {
		t.Errorf("empty replay: %+v (maps must be usable)", st)
	}
}
