//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/workload"
)

func TestIsBuiltin(t *testing.T) {
	tests := []struct {
		name string
		args []string
		pid  int
		want bool
	}{
		{"builtin subcommand", []string{"/init", "builtin", "primes"}, 4242, true},
		{"agent flags", []string{"vmctl-agent", "--listen", "unix:/x"}, 4242, false},
		{"no arguments", []string{"vmctl-agent"}, 4242, false},
		{"builtin later on the line", []string{"vmctl-agent", "--port", "builtin"}, 4242, false},
		{"never as init", []string{"/init", "builtin", "primes"}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isBuiltin(tt.args, tt.pid); got != tt.want {
				t.Errorf("isBuiltin(%q, %d) = %v, want %v", tt.args, tt.pid, got, tt.want)
			}
		})
	}
}

// TestBuiltinNative runs the static binary the way the host runs its
// native baseline.
func TestBuiltinNative(t *testing.T) {
	bin := buildAgent(t)
	t.Run("prints the result", func(t *testing.T) {
		cmd := exec.Command(bin, workload.Argv("primes", map[string]string{"to": "1000000"})...)
		cmd.Env = append(os.Environ(), workload.EnvPartition+"=0", workload.EnvPartitions+"=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %s", err, stderrOf(err))
		}
		var r workload.Result
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("stdout %q: %v", out, err)
		}
		if r.Workload != "primes" || r.Value != 78498 {
			t.Errorf("result %+v, want 78498 primes", r)
		}
	})
	t.Run("exit codes", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want int
		}{
			{"unknown built-in", []string{"builtin", "fib"}, 2},
			{"bad flag", []string{"builtin", "primes", "--to", "-1"}, 2},
			{"runtime failure", []string{"builtin", "wordcount", "--file", "/nonexistent/vmctl"}, 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := exec.Command(bin, tt.args...).Run()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != tt.want {
					t.Errorf("exit = %v, want code %d", err, tt.want)
				}
			})
		}
	})
}

func stderrOf(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(exit.Stderr)
	}
	return ""
}

// TestBuiltinThroughAgent runs a built-in the way a guest does: the
// agent execs its own binary, with the partition in the environment and
// the output streamed back.
func TestBuiltinThroughAgent(t *testing.T) {
	bin := buildAgent(t)
	dial, _, logs := startAgent(t, bin)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := agent.Connect(ctx, dial)
	if err != nil {
		t.Fatalf("connect: %v\nlog:\n%s", err, logs.String())
	}
	defer c.Close()

	input := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(input, []byte("Hello hello\nworld\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  map[string]string
		env   []string
		check func(t *testing.T, r workload.Result)
	}{
		{"primes partition", map[string]string{"to": "100"}, []string{"VMCTL_PARTITION=1", "VMCTL_PARTITIONS=2"}, func(t *testing.T, r workload.Result) {
			if r.Value != 10 {
				t.Errorf("result %+v, want 10 primes in [50,100)", r)
			}
		}},
		{"wordcount inputs", nil, []string{"VMCTL_INPUTS=" + input, "VMCTL_INPUT_OFFSET=12", "VMCTL_INPUT_LENGTH=6"}, func(t *testing.T, r workload.Result) {
			if r.Value != 1 || r.Counts["world"] != 1 {
				t.Errorf("result %+v, want one word, world", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.Fields(tt.name)[0]
			argv := append([]string{bin}, workload.Argv(name, tt.args)...)
			var stdout, stderr bytes.Buffer
			res, err := c.Exec(ctx, &agent.ExecRequest{Argv: argv, Env: tt.env, MaxOutput: agent.MaxExecOutput + 1}, &stdout, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != 0 {
				t.Fatalf("exit %d, stderr %q", res.ExitCode, stderr.String())
			}
			var r workload.Result
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("stdout %q: %v", stdout.String(), err)
			}
			tt.check(t, r)
		})
	}
}
