package jobs

// State is what a journal says about a job.
type State struct {
	// Done holds each finished partition's first result record.
	Done map[int]Record
	// Attempts counts the attempt records of each partition, across
	// every run of the job.
	Attempts map[int]int
	// VMs are the workers started, in order, without repeats.
	VMs []string
	// Finished: the job reduced its results and wrote them.
	Finished bool
	// Job is the first job record: the spec the job was started with.
	Job *Record
}

// Replay folds records into a State. A partition's first result wins: a
// later one (the same partition finished twice, say by a retry that
// overlapped a slow attempt) is ignored, so each counts exactly once.
func Replay(recs []Record) State {
	st := State{Done: map[int]Record{}, Attempts: map[int]int{}}
	seen := map[string]bool{}
	for _, r := range recs {
		switch r.Type {
		case RecordJob:
			if st.Job == nil {
				st.Job = &r
			}
		case RecordVM:
			if r.VM != "" && !seen[r.VM] {
				seen[r.VM] = true
				st.VMs = append(st.VMs, r.VM)
			}
		case RecordAttempt:
			st.Attempts[r.Partition]++
		case RecordResult:
			if _, done := st.Done[r.Partition]; !done {
				st.Done[r.Partition] = r
			}
		case RecordDone:
			st.Finished = true
		}
	}
	return st
}
