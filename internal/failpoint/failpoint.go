// Package failpoint stops vmctl at a named point so the fault suite can
// kill it there (kill -9 mid-boot, mid-result-fetch, mid-reduce) instead of
// guessing the moment from outside. It is inert unless the environment
// variable VMCTL_FAILPOINTS lists the point, in the manner of etcd's gofail:
// the code path is the product's own, only a pause is added.
//
//	VMCTL_FAILPOINTS=jobs/before-reduce vmctl job run spec.yaml
//
// A hit point writes one line, "vmctl: failpoint NAME reached (pid N)", to
// standard error and then blocks until its context ends, so the process can
// be killed at exactly that point.
package failpoint

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
)

// Env is the variable that enables points: a comma-separated list of names.
const Env = "VMCTL_FAILPOINTS"

// Names of the points the product defines. Tests refer to these constants.
const (
	// AfterPlacement: a VM has been placed and its claim written, nothing
	// created on the host yet.
	AfterPlacement = "fleet/after-placement"
	// AfterStart: the domain runs, its agent has not answered yet.
	AfterStart = "hypervisor/after-start"
	// BeforeFetch: a partition finished in the guest; its output files
	// have not been fetched and its result is not journaled.
	BeforeFetch = "jobs/before-fetch"
	// BeforeReduce: every partition's result is journaled; the reduce has
	// not written the job's results.
	BeforeReduce = "jobs/before-reduce"
)

var (
	once    sync.Once
	enabled []string
)

func load() {
	for _, n := range strings.Split(os.Getenv(Env), ",") {
		if n = strings.TrimSpace(n); n != "" {
			enabled = append(enabled, n)
		}
	}
}

// Enabled reports whether name is listed in VMCTL_FAILPOINTS.
func Enabled(name string) bool {
	once.Do(load)
	return len(enabled) > 0 && slices.Contains(enabled, name)
}

// Hit pauses at name when it is enabled: it announces the point on
// standard error and waits for ctx to end, returning ctx's error. When the
// point is not enabled it returns nil at once.
func Hit(ctx context.Context, name string) error {
	if !Enabled(name) {
		return nil
	}
	fmt.Fprintf(os.Stderr, "vmctl: failpoint %s reached (pid %d)\n", name, os.Getpid())
	<-ctx.Done()
	return fmt.Errorf("failpoint %s: %w", name, ctx.Err())
}
