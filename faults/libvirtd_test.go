//go:build faults

package faults

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmctl/vmctl/jobs"
)

// TestScenario02LibvirtdRestarts restarts the host's libvirtd five times
// while a job runs: the first restarts fall into the workers' boot (define,
// start, lookups), the later ones into the partitions. The job must finish
// with the native result, remove its workers and exit 0.
func TestScenario02LibvirtdRestarts(t *testing.T) {
	s := newScenario(t, "2 libvirtd restarted 5x mid-job")
	s.run(func(t *testing.T, r *runEnv) {
		ensureLibvirtd(t)
		// 24 partitions x 2 s on 2 VMs: about 24 s of work, room for five
		// restarts about 4 s apart.
		job := sleepJob{partitions: 24, pool: 2, maxAttempts: 3, sleep: 2 * time.Second}
		spec := job.write(t, r)
		want := job.native(t, r)
		dir := filepath.Join(r.jobsDir, "job")
		p := startJob(t, r, nil, "-o", "json", "job", "run", spec, "--dir", dir, "--no-progress")
		restarts := 0
		for ; restarts < 5; restarts++ {
			// 0.3 s in the first lands in the first create; then about
			// every 3 s.
			wait := 3 * time.Second
			if restarts == 0 {
				wait = 300 * time.Millisecond
			}
			select {
			case <-p.done:
			case <-time.After(wait):
			}
			if isDone(p) {
				break
			}
			stopLibvirtd(t)
			startLibvirtd(t)
		}
		res := p.wait(5 * time.Minute)
		s.figure("%d restarts during the job; job exit %d after %s", restarts, res.code, res.took.Round(time.Millisecond))
		if restarts < 5 {
			t.Errorf("the job ended after %d restarts: make it longer so all 5 land mid-job", restarts)
		}
		if res.code != 0 {
			t.Fatalf("job exit %d after libvirtd restarts:\n%s", res.code, res.stderr)
		}
		if got := jobValue(t, res.stdout); got != want {
			t.Fatalf("result %v, native %v", got, want)
		}
		resultsOnce(t, dir, job.partitions)
		if n := strings.Count(res.stderr, "libvirt connection restored"); n == 0 {
			t.Errorf("vmctl never logged a restored connection over %d restarts:\n%s", restarts, res.stderr)
		}
	})
}

func isDone(p *jobProc) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// TestScenario03LibvirtdDown stops libvirtd for 60 s while partitions run.
// The agent channels are the guests' own unix sockets, so partitions go on
// finishing during the outage; nothing is killed; vmctl reconnects within
// 10 s of libvirtd answering again and removes its workers at the end.
func TestScenario03LibvirtdDown(t *testing.T) {
	const outage = 60 * time.Second
	s := newScenario(t, "3 libvirtd down 60 s mid-job")
	s.run(func(t *testing.T, r *runEnv) {
		ensureLibvirtd(t)
		// 2 workers × 28 partitions × 3 s: about 84 s of work, so the job
		// outlives the outage.
		job := sleepJob{partitions: 56, pool: 2, maxAttempts: 2, sleep: 3 * time.Second}
		spec := job.write(t, r)
		want := job.native(t, r)
		dir := filepath.Join(r.jobsDir, "job")
		p := startJob(t, r, nil, "-o", "json", "job", "run", spec, "--dir", dir, "--no-progress")
		waitJournal(t, dir, 2*time.Minute, func(rec jobs.Record) bool { return rec.Type == jobs.RecordResult })
		down := time.Now()
		stopLibvirtd(t)
		time.Sleep(outage)
		up := startLibvirtd(t)
		res := p.wait(5 * time.Minute)
		if res.code != 0 {
			t.Fatalf("job exit %d after a %s outage:\n%s", res.code, outage, res.stderr)
		}
		if got := jobValue(t, res.stdout); got != want {
			t.Fatalf("result %v, native %v", got, want)
		}
		resultsOnce(t, dir, job.partitions)
		during, failed := 0, 0
		for _, rec := range journal(t, dir) {
			switch {
			case rec.Type == jobs.RecordResult && rec.Time.After(down) && rec.Time.Before(up):
				during++
			case rec.Type == jobs.RecordFailed:
				failed++
				t.Errorf("attempt failed: partition %d on %s: %s", rec.Partition, rec.VM, rec.Error)
			}
		}
		// The job's log says when the connection came back; logrus's
		// text timestamps are whole seconds.
		line := p.waitLine("libvirt connection restored", time.Second)
		restored, err := logTime(line)
		if err != nil {
			t.Fatalf("restored line %q: %v", line, err)
		}
		after := restored.Sub(up.Truncate(time.Second))
		s.figure("outage %s: %d results recorded during it, %d failed attempts; reconnected %s after libvirtd answered (log: %q); job exit %d after %s",
			outage, during, failed, after, line, res.code, res.took.Round(time.Millisecond))
		if during == 0 {
			t.Error("no partition finished while libvirtd was down: running partitions must not depend on it")
		}
		if after > 10*time.Second {
			t.Errorf("reconnected %s after libvirtd came back, want within 10 s", after)
		}
	})
}

// logTime reads logrus's time="..." field.
func logTime(line string) (time.Time, error) {
	i := strings.Index(line, `time="`)
	if i < 0 {
		return time.Time{}, errNoTime
	}
	rest := line[i+len(`time="`):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, errNoTime
	}
	return time.Parse(time.RFC3339, rest[:j])
}

var errNoTime = errorString("no time= field")

type errorString string

func (e errorString) Error() string { return string(e) }
