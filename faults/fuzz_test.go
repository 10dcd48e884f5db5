//go:build faults

package faults

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzTime is each fuzzer's run in scenario 7 (make fuzz and scripts/test.sh
// run FuzzReadFrame for seconds only).
const fuzzTime = 2 * time.Minute

// TestScenario07Fuzzers runs the frame and client fuzzers of package
// agent for fuzzTime each, as `go test -fuzz` subprocesses.
func TestScenario07Fuzzers(t *testing.T) {
	s := newScenario(t, "7 frame and client fuzzers, 2 min each")
	s.run(func(t *testing.T, r *runEnv) {
		for _, target := range []string{"FuzzReadFrame", "FuzzClientConn"} {
			cmd := exec.Command(goTool(), "test", "-run", "^$", "-fuzz", "^"+target+"$",
				"-fuzztime", fuzzTime.String(), "./agent")
			cmd.Dir = suite.root
			// A crasher is written under agent/testdata/fuzz/ (and named in
			// the output), where it becomes a regression test.
			res, err := runCmd(cmd, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.figure("%s: exit %d after %s, %s", target, res.code, res.took.Round(time.Second), fuzzSummary(res.stdout+res.stderr))
			if res.code != 0 {
				t.Errorf("%s failed (exit %d):\n%s%s", target, res.code, res.stdout, res.stderr)
			}
			if res.took < fuzzTime {
				t.Errorf("%s ran %s, less than the %s asked", target, res.took, fuzzTime)
			}
		}
	})
}

// fuzzLine matches go test -fuzz's progress lines:
// "fuzz: elapsed: 2m0s, execs: 1234567 (10288/sec), new interesting: 3 (total: 45)".
var fuzzLine = regexp.MustCompile(`fuzz: elapsed: \S+, execs: (\d+) \((\d+)/sec\), new interesting: (\d+) \(total: (\d+)\)`)

// fuzzSummary is the last progress line's figures (its rate is the last
// interval's, so the average is worked out from the total).
func fuzzSummary(out string) string {
	m := fuzzLine.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return "no progress line: " + lastLine(out)
	}
	last := m[len(m)-1]
	execs, _ := strconv.ParseFloat(last[1], 64)
	summary := fmt.Sprintf("%s execs (%.0f/s on average), %s new interesting, corpus %s", last[1], execs/fuzzTime.Seconds(), last[3], last[4])
	if strings.Contains(out, "Failing input written to") {
		summary += "; FAILING INPUT WRITTEN"
	}
	return summary
}
