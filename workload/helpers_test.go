package workload

import (
	"context"
	"testing"
)

// envOf is a getenv over a fixed environment.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// mustRun runs a built-in and fails the test on error.
func mustRun(t testing.TB, name string, args, env map[string]string) Result {
	t.Helper()
	res, err := Run(context.Background(), name, args, envOf(env))
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if res.Workload != name || res.Seconds < 0 {
		t.Fatalf("result %+v: wrong workload name or negative seconds", res)
	}
	return res
}
