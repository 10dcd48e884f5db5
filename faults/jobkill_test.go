//go:build faults

package faults

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vmctl/vmctl/internal/failpoint"
	"github.com/vmctl/vmctl/jobs"
)

// killPoint is one moment of scenario 1: how to get vmctl there.
type killPoint struct {
	name string
	// failpoint, when set, makes vmctl stop there and say so; otherwise
	// reach waits from outside.
	failpoint string
	reach     func(t *testing.T, dir string)
}

var killPoints = []killPoint{
	{name: "after placement", failpoint: failpoint.AfterPlacement},
	{name: "mid-boot", failpoint: failpoint.AfterStart},
	{name: "mid-partition", reach: func(t *testing.T, dir string) {
		waitJournal(t, dir, 2*time.Minute, func(rec jobs.Record) bool { return rec.Type == jobs.RecordAttempt })
		time.Sleep(700 * time.Millisecond) // inside the partition's sleep
	}},
	{name: "mid-result-fetch", failpoint: failpoint.BeforeFetch},
	{name: "mid-reduce", failpoint: failpoint.BeforeReduce},
}

// TestScenario01KillAndResume kills `vmctl job run` with SIGKILL at five
// points, then runs `vmctl job resume`: the job must finish with the
// native result, every partition's result recorded exactly once, and
// nothing of the killed run left (the run's leftover check).
func TestScenario01KillAndResume(t *testing.T) {
	const runsPerPoint = 3
	s := newScenario(t, "1 kill -9 of job run at 5 points, then resume")
	job := sleepJob{partitions: 4, pool: 2, maxAttempts: 2, sleep: 1500 * time.Millisecond}
	var want float64
	for _, kp := range killPoints {
		s.runN(runsPerPoint, func(t *testing.T, r *runEnv) {
			spec := job.write(t, r)
			if want == 0 {
				want = job.native(t, r)
			}
			dir := filepath.Join(r.jobsDir, "job")
			var env []string
			if kp.failpoint != "" {
				env = []string{failpoint.Env + "=" + kp.failpoint}
			}
			p := startJob(t, r, env, "job", "run", spec, "--dir", dir, "--no-progress")
			if kp.failpoint != "" {
				p.waitLine("failpoint "+kp.failpoint+" reached", 2*time.Minute)
			} else {
				kp.reach(t, dir)
			}
			p.kill9()
			before := journal(t, dir)
			res := r.vmctl("-o", "json", "job", "resume", dir, "--no-progress")
			done := 0
			for _, rec := range before {
				if rec.Type == jobs.RecordResult {
					done++
				}
			}
			s.figure("%s: killed with %d/%d results journaled; resume exit %d after %s",
				kp.name, done, job.partitions, res.code, res.took.Round(time.Millisecond))
			if res.code != 0 {
				t.Fatalf("job resume after a kill %s: exit %d\n%s", kp.name, res.code, res.stderr)
			}
			if got := jobValue(t, res.stdout); got != want {
				t.Fatalf("after a kill %s: result %v, native %v", kp.name, got, want)
			}
			resultsOnce(t, dir, job.partitions)
		})
	}
}
