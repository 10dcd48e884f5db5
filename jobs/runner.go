package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vmctl/vmctl/autoscale"
	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/internal/failpoint"
)

// ErrPartitionFailed: a partition used up its attempts; the job stops.
var ErrPartitionFailed = errors.New("partition failed")

// ErrNoWorkers: no worker could be started, so nothing can run.
var ErrNoWorkers = errors.New("no worker could start")

// maxBootFailures is how many workers in a row a pool position may fail to
// start before it gives up (the others may still carry the job).
const maxBootFailures = 3

// Runner runs one job: its partitions over a pool of workers, with
// retries, a journal and a reduce at the end.
type Runner struct {
	Spec     *Spec
	Dir      string // the job directory: journal, outputs, results
	Provider Provider
	Log      logrus.FieldLogger
	// Timeline and Metrics, when set, receive every signal sample and
	// scaling decision.
	Timeline *autoscale.Recorder
	Metrics  *autoscale.Metrics
	// Arrivals, when set, releases the partitions in waves.
	Arrivals Arrivals

	mu        sync.Mutex
	journal   *Journal
	outputs   map[int]PartitionOutput
	rows      map[int]*PartitionRow
	total     int
	started   time.Time
	firstUp   time.Time
	lastDone  time.Time
	workersUp int
	booted    int
	attempts  int
	failures  int
	inBytes   int64
	failErr   error
	pool      *pool
	completed int64
	decisions []autoscale.Decision
	// decisionCounts counts the autoscaler's decisions by kind and rule;
	// backlogTicks the ticks with partitions queued, by ready VMs.
	decisionCounts map[string]int
	backlogTicks   map[int]int
	// ceilings are the sizes of every ceiling declared, in order.
	ceilings []int
	ceiling  string
	// left are the workers (and what else) that could not be removed.
	left []hypervisor.Leftover
}

// JobID names the job's VMs. It derives from the directory, so a resumed
// job recognises the VMs its crashed run left.
func JobID(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:])[:6]
}

// Progress is a snapshot for progress bars.
type Progress struct {
	Total, Done, Running, Pending int
	// Failed counts failed attempts (each retried or fatal).
	Failed  int
	Workers int
	Elapsed time.Duration
	// ETA is zero until a partition has finished in this run.
	ETA time.Duration
}

// Progress reports where the job stands.
func (r *Runner) Progress() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Progress{Total: r.total, Done: len(r.outputs), Failed: r.failures, Workers: r.workersUp}
	if !r.started.IsZero() {
		p.Elapsed = time.Since(r.started)
	}
	for _, row := range r.rows {
		if row.running {
			p.Running++
		}
	}
	p.Pending = p.Total - p.Done - p.Running
	doneNow := 0
	for _, row := range r.rows {
		if row.Done && !row.Resumed {
			doneNow++
		}
	}
	if doneNow > 0 && !r.firstUp.IsZero() {
		per := time.Since(r.firstUp) / time.Duration(doneNow)
		p.ETA = per * time.Duration(p.Total-p.Done)
	}
	return p
}

// Run runs the job to the end, or resumes it when the directory holds a
// journal: finished partitions are kept and only the rest run. Workers a
// crashed run left are removed first. Every worker is stopped on return.
//
// A worker that could not be removed does not fail the job: Run returns
// the Summary with the job's result, the workers in Summary.LeftBehind,
// and an error wrapping hypervisor.ErrLeftBehind (a *hypervisor.LeftBehind)
// that names each with its host and the fix. When the job failed as well,
// the error joins both.
func (r *Runner) Run(ctx context.Context) (*Summary, error) {
	if r.Log == nil {
		r.Log = logrus.New()
	}
	parts, err := r.Spec.Partitions()
	if err != nil {
		return nil, err
	}
	if err := r.Arrivals.Validate(len(parts)); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("job directory: %w", err)
	}
	j, recs, err := OpenJournal(r.Dir)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	st := Replay(recs)
	if st.Job == nil {
		if err := j.Append(Record{Type: "job", Time: time.Now(), Spec: r.Spec, Partitions: len(parts), Native: r.Provider.Kind() == "native"}); err != nil {
			return nil, err
		}
	} else if st.Job.Partitions != len(parts) {
		return nil, fmt.Errorf("%w: the journal in %s is for %d partitions, the spec now gives %d: the inputs changed since the job started; run it in a new directory",
			ErrInvalidSpec, r.Dir, st.Job.Partitions, len(parts))
	}
	r.journal, r.total, r.started = j, len(parts), time.Now()
	r.outputs, r.rows = map[int]PartitionOutput{}, map[int]*PartitionRow{}

	id := JobID(r.Dir)
	removed, err := r.Provider.Cleanup(ctx, id)
	if len(removed) > 0 {
		r.Log.WithField("workers", removed).Info("removed workers an earlier run left")
	}
	switch {
	case hypervisor.OnlyLeftBehind(err), errors.Is(err, ErrCleanupIncomplete):
		// They hold resources, not partitions: the job can run without
		// them. Those that could not be removed are named at the end;
		// those on a host that did not answer are `vmctl gc`'s once it
		// does (their owner is dead).
		r.recordLeftovers(hypervisor.Leftovers(err))
		r.Log.WithError(err).Warn("workers an earlier run left were not all removed")
	case err != nil:
		return nil, fmt.Errorf("clean up workers of an earlier run: %w", err)
	}

	var tasks []*task
	for _, p := range parts {
		row := &PartitionRow{Index: p.Index, Bytes: p.Bytes}
		r.rows[p.Index] = row
		if rec, ok := st.Done[p.Index]; ok {
			var out PartitionOutput
			if err := json.Unmarshal(rec.Result, &out); err != nil {
				return nil, r.withLeftovers(fmt.Errorf("journal: result of partition %d: %w", p.Index, err))
			}
			r.outputs[p.Index] = out
			row.Done, row.Resumed, row.Worker, row.Host, row.Duration = true, true, rec.VM, rec.Host, rec.Duration
			row.Attempts = st.Attempts[p.Index]
			continue
		}
		// A resumed partition always gets at least one more attempt: the
		// crash, not the partition, may have ended the last one.
		att := min(st.Attempts[p.Index], r.Spec.MaxAttempts-1)
		row.Attempts = att
		tasks = append(tasks, &task{p: p, attempts: att})
	}
	if len(tasks) > 0 {
		if err := r.runTasks(ctx, id, tasks); err != nil {
			return r.summary(), r.withLeftovers(err)
		}
	}
	sum, err := r.finish(ctx)
	return sum, r.withLeftovers(err)
}

// leftBehind records a worker Stop could not remove: the resources its
// error names, or the worker itself.
func (r *Runner) leftBehind(w *Worker, err error) {
	items := hypervisor.Leftovers(err)
	if len(items) == 0 {
		items = []hypervisor.Leftover{hypervisor.NewLeftover("worker", w.Host, w.Name, "",
			"see the error; `vmctl gc` lists what vmctl left", err)}
	}
	r.recordLeftovers(items)
}

func (r *Runner) recordLeftovers(items []hypervisor.Leftover) {
	if len(items) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.left = append(r.left, items...)
}

// withLeftovers adds to err the resources left behind that it does not
// name already. With nothing else wrong, it is the *hypervisor.LeftBehind
// alone.
func (r *Runner) withLeftovers(err error) error {
	r.mu.Lock()
	left := append([]hypervisor.Leftover(nil), r.left...)
	r.mu.Unlock()
	named := map[string]bool{}
	for _, l := range hypervisor.Leftovers(err) {
		named[l.Kind+"\x00"+l.Host+"\x00"+l.Name] = true
	}
	var rest []hypervisor.Leftover
	for _, l := range left {
		if !named[l.Kind+"\x00"+l.Host+"\x00"+l.Name] {
			rest = append(rest, l)
		}
	}
	lb := hypervisor.JoinLeftovers(rest)
	switch {
	case lb == nil:
		return err
	case err == nil:
		return lb
	}
	return errors.Join(err, lb)
}

func (r *Runner) runTasks(ctx context.Context, id string, tasks []*task) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for i, t := range tasks {
		if off := r.Arrivals.offset(i, len(tasks)); off > 0 {
			t.notBefore = r.started.Add(off)
		}
	}
	q := newQueue(tasks)
	p := newPool(ctx, cancel, r, q, fmt.Sprintf("j-%s-%s", r.Spec.Name, id))
	r.mu.Lock()
	r.pool = p
	r.mu.Unlock()
	sc, err := r.newScaler(p, q)
	if err != nil {
		return err
	}
	p.add(sc.initialSize(len(tasks)))
	p.refillWarm()
	sctx, stopScaler := context.WithCancel(ctx)
	scalerDone := make(chan struct{})
	go func() { defer close(scalerDone); sc.loop(sctx) }()
	r.waitFinished(ctx, p, q, sc.autoscaled())
	stopScaler()
	<-scalerDone
	p.shutdown()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.failErr != nil:
		return r.failErr
	case ctx.Err() != nil:
		return context.Cause(ctx)
	}
	if left := q.left(); left > 0 {
		return fmt.Errorf("%w: %d partitions left unrun", ErrNoWorkers, left)
	}
	return nil
}

// waitFinished returns when every partition is done, the job failed, or
// (for a fixed pool) every member has gone, e.g. none could boot.
func (r *Runner) waitFinished(ctx context.Context, p *pool, q *queue, autoscaled bool) {
	for {
		if q.left() == 0 {
			return
		}
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		n := len(p.members)
		p.mu.Unlock()
		if n == 0 && !autoscaled {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *Runner) workerUp(w *Worker) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.workersUp++
	r.booted++
	if r.firstUp.IsZero() {
		r.firstUp = time.Now()
	}
	r.journal.Append(Record{Type: "vm", Time: time.Now(), VM: w.Name, Host: w.Host})
}

func (r *Runner) workerDown() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.workersUp--
}

// attempt runs one try of t on w. It returns false when w is lost.
func (r *Runner) attempt(ctx context.Context, fail context.CancelCauseFunc, q *queue, w *Worker, t *task) bool {
	t.attempts++
	r.mu.Lock()
	row := r.rows[t.p.Index]
	row.running, row.Attempts = true, t.attempts
	r.attempts++
	r.journal.Append(Record{Type: "attempt", Time: time.Now(), Partition: t.p.Index, Attempt: t.attempts, VM: w.Name, Host: w.Host})
	r.mu.Unlock()

	o, err := runAttempt(ctx, r.Spec, w, t.p, r.total, t.attempts)
	if err == nil {
		err = r.record(w, t, o)
	}
	r.mu.Lock()
	row.running = false
	r.mu.Unlock()
	if err == nil {
		q.finish(t, false)
		return true
	}
	if ctx.Err() != nil {
		q.finish(t, false)
		return true
	}
	workerLost := errors.Is(err, errWorkerLost) && !r.Provider.Alive(ctx, w)
	r.mu.Lock()
	r.failures++
	r.journal.Append(Record{Type: "failed", Time: time.Now(), Partition: t.p.Index, Attempt: t.attempts, VM: w.Name, Host: w.Host, Error: err.Error()})
	r.mu.Unlock()
	t.lastWorker, t.lastErr = w.Name, err.Error()
	if t.attempts >= r.Spec.MaxAttempts {
		r.mu.Lock()
		if r.failErr == nil {
			r.failErr = fmt.Errorf("%w: partition %d failed %d times (max_attempts %d); last on %s: %s",
				ErrPartitionFailed, t.p.Index, t.attempts, r.Spec.MaxAttempts, w.Name, err)
		}
		r.mu.Unlock()
		q.finish(t, false)
		fail(ErrPartitionFailed)
		return !workerLost
	}
	r.Log.WithError(err).WithFields(logrus.Fields{"partition": t.p.Index, "attempt": t.attempts, "worker": w.Name}).Warn("partition failed; retrying elsewhere")
	q.finish(t, true)
	return !workerLost
}

// record keeps the first result of a partition and journals it; a later
// duplicate (the same partition run twice) is dropped.
func (r *Runner) record(w *Worker, t *task, o *attemptOutcome) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.outputs[t.p.Index]; dup {
		return nil
	}
	if err := r.saveOutputs(t.p, t.attempts, o); err != nil {
		return err
	}
	raw, err := json.Marshal(o.out)
	if err != nil {
		return err
	}
	if err := r.journal.Append(Record{Type: "result", Time: time.Now(), Partition: t.p.Index, Attempt: t.attempts,
		VM: w.Name, Host: w.Host, Duration: o.duration, Result: raw}); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	r.outputs[t.p.Index] = o.out
	row := r.rows[t.p.Index]
	row.Done, row.Worker, row.Host, row.Duration = true, w.Name, w.Host, o.duration
	r.inBytes += t.p.Bytes
	r.lastDone = time.Now()
	r.completed++
	return nil
}

// saveOutputs writes the partition's stdout and files to
// partitions/pNNNNN, through a temporary directory renamed into place so a
// crash never leaves half a partition looking finished.
func (r *Runner) saveOutputs(p Partition, attempt int, o *attemptOutcome) error {
	if len(o.out.Stdout) == 0 && len(o.files) == 0 {
		return nil
	}
	final := filepath.Join(r.Dir, "partitions", fmt.Sprintf("p%05d", p.Index))
	tmp := fmt.Sprintf("%s.a%d.tmp", final, attempt)
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "stdout"), o.out.Stdout, 0o644); err != nil {
		return err
	}
	if _, _, err := extractOutputs(o.files, filepath.Join(tmp, "files")); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	// Not journaled as done, so whatever is there is a crashed run's.
	os.RemoveAll(final)
	return os.Rename(tmp, final)
}

func (r *Runner) finish(ctx context.Context) (*Summary, error) {
	if err := failpoint.Hit(ctx, failpoint.BeforeReduce); err != nil {
		return r.summary(), err
	}
	outs := make([]PartitionOutput, 0, len(r.outputs))
	for _, o := range r.outputs {
		outs = append(outs, o)
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].Index < outs[j].Index })
	red, err := Reduce(r.Spec.Reduce, outs)
	if err != nil {
		return r.summary(), fmt.Errorf("reduce: %w", err)
	}
	if err := red.WriteFiles(r.Dir); err != nil {
		return r.summary(), fmt.Errorf("write results: %w", err)
	}
	sum := r.summary()
	sum.Result = red
	if err := writeJSONFile(filepath.Join(r.Dir, "summary.json"), sum); err != nil {
		return sum, err
	}
	if err := r.journal.Append(Record{Type: "done", Time: time.Now()}); err != nil {
		return sum, err
	}
	return sum, nil
}

func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
