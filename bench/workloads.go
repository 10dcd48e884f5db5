package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/jobs"
	"github.com/vmctl/vmctl/workload"
)

// ErrUnknownWorkload: a --workloads entry that is neither a built-in nor
// exec:COMMAND.
var ErrUnknownWorkload = errors.New("unknown workload")

// Workload is one thing to measure on both sides.
type Workload struct {
	// Name is the built-in's name, or "exec" for a command.
	Name string
	Args map[string]string
	// Exec is the command of an exec workload, run as is on both sides;
	// its figure is runs per second from the agent's own timing.
	Exec []string
	// VMArgs override Args inside the VM (io writes to the scratch disk
	// there, to a host directory natively).
	VMArgs map[string]string
}

// Label names the workload in tables and reports.
func (w Workload) Label() string {
	if w.Exec != nil {
		return "exec:" + strings.Join(w.Exec, " ")
	}
	return w.Name
}

// ArgList is Args as sorted k=v strings, for the report.
func (w Workload) ArgList() []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(w.Args)) {
		out = append(out, k+"="+w.Args[k])
	}
	return out
}

// ScratchMiB is the disk the VM needs for this workload (io only).
func (w Workload) ScratchMiB() int {
	if w.Name != "io" {
		return 0
	}
	return ioMiB + 16
}

// ioMiB is what the io workload writes per run.
const ioMiB = 64

// defaultArgs size each built-in so one run takes about a second in a
// TCG guest on this class of machine: long enough that timer and dispatch
// noise is small against it, short enough that many pairs fit a budget.
func defaultArgs(name string) map[string]string {
	switch name {
	case "cpu-hash":
		return map[string]string{"mib": "32"}
	case "primes":
		return map[string]string{"to": "30000000"}
	case "membw":
		// 64 MiB outgrows the host's last-level cache, so native copies
		// memory, not cache.
		return map[string]string{"mib": "64", "passes": "3"}
	case "syscalls":
		// Natively this is still only ~60 ms; fewer makes the native
		// side's timer and scheduler noise dominate.
		return map[string]string{"count": "500000"}
	case "io":
		return map[string]string{"mib": fmt.Sprint(ioMiB), "fsync-every-mib": "16"}
	}
	return nil
}

// ParseWorkloads reads a --workloads list: built-in names, optionally
// NAME:k=v;k=v, and exec:COMMAND ARGS. ioDir is where io writes natively.
func ParseWorkloads(list, ioDir string) ([]Workload, error) {
	var out []Workload
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if cmd, ok := strings.CutPrefix(f, "exec:"); ok {
			argv := strings.Fields(cmd)
			if len(argv) == 0 {
				return nil, fmt.Errorf("%w: exec: needs a command, e.g. exec:gzip -c /etc/services", ErrUnknownWorkload)
			}
			out = append(out, Workload{Name: "exec", Exec: argv})
			continue
		}
		name, params, _ := strings.Cut(f, ":")
		if !slices.Contains(workload.Names(), name) || name == "wordcount" {
			return nil, fmt.Errorf("%w: %q: use one of cpu-hash, primes, membw, syscalls, io, or exec:COMMAND", ErrUnknownWorkload, name)
		}
		args := defaultArgs(name)
		for _, kv := range strings.Split(params, ";") {
			if kv == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("%w: %q: arguments are k=v separated by ';', e.g. primes:to=1000000", ErrUnknownWorkload, f)
			}
			args[k] = v
		}
		wl := Workload{Name: name, Args: args}
		if name == "io" {
			wl.VMArgs = maps.Clone(args)
			wl.VMArgs["path"], wl.VMArgs["device"] = "/dev/vda", "true"
			wl.Args["path"] = ioDir
		}
		if err := workload.Validate(name, wl.Args); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrUnknownWorkload, name, err)
		}
		out = append(out, wl)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: --workloads is empty", ErrUnknownWorkload)
	}
	return out, nil
}

// maxRunOutput caps what one run may print: a built-in prints one line.
const maxRunOutput = 1 << 20

// RunOn runs wl once on w and returns its figure, its unit and the
// agent-measured wall time. inVM picks the VM arguments.
func RunOn(ctx context.Context, w *jobs.Worker, wl Workload, inVM bool, timeout time.Duration) (float64, string, time.Duration, error) {
	argv := wl.Exec
	if argv == nil {
		args := wl.Args
		if inVM && wl.VMArgs != nil {
			args = wl.VMArgs
		}
		argv = append([]string{w.AgentPath}, workload.Argv(wl.Name, args)...)
	}
	var stdout, stderr bytes.Buffer
	res, err := w.Client.Exec(ctx, &agent.ExecRequest{Argv: argv, Timeout: timeout, MaxOutput: maxRunOutput}, &stdout, &stderr)
	if err != nil {
		return 0, "", 0, fmt.Errorf("%s on %s: %w", wl.Label(), w.Name, err)
	}
	if res.TimedOut || res.ExitCode != 0 || res.Signal != "" {
		return 0, "", 0, fmt.Errorf("%s on %s: exit %d %s (timed out %v): %s", wl.Label(), w.Name, res.ExitCode, res.Signal, res.TimedOut, tail(stderr.String()))
	}
	if wl.Exec != nil {
		if res.Duration <= 0 {
			return 0, "", 0, fmt.Errorf("%s on %s: no duration measured", wl.Label(), w.Name)
		}
		return 1 / res.Duration.Seconds(), "runs/s", res.Duration, nil
	}
	var r workload.Result
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil || r.Workload != wl.Name {
		return 0, "", 0, fmt.Errorf("%s on %s: no result line (%v): %q", wl.Label(), w.Name, err, tail(stdout.String()))
	}
	value, unit := r.Value, r.Unit
	// primes reports a count; its rate is what compares across sides.
	if wl.Name == "primes" {
		if r.Seconds <= 0 {
			return 0, "", 0, fmt.Errorf("primes on %s: run too short to time; raise --to", w.Name)
		}
		value, unit = float64(r.Ops)/r.Seconds/1e6, "M numbers/s"
	}
	if value <= 0 {
		return 0, "", 0, fmt.Errorf("%s on %s: figure %v is not positive: make the run longer", wl.Label(), w.Name, value)
	}
	return value, unit, res.Duration, nil
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = "..." + s[len(s)-300:]
	}
	return s
}
