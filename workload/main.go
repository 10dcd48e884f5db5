package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Exit codes of Main.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// Main runs the built-in args[0] with the flags that follow and prints
// its Result as one JSON line on stdout. It exits 0 on success, 2 for a
// usage error (nothing was run), 1 when the run failed; the message goes
// to stderr.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitUsage
	}
	if h := args[0]; h == "-h" || h == "--help" || h == "help" {
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	b, err := lookup(args[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	raw, err := parseCommandLine(b, args[1:])
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, b.usage())
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	res, err := Run(ctx, b.name, raw, getenv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if errors.Is(err, ErrBadArgument) || errors.Is(err, ErrUnknownBuiltin) {
			return exitUsage
		}
		return exitRuntime
	}
	if err := json.NewEncoder(stdout).Encode(&res); err != nil {
		fmt.Fprintf(stderr, "workload: %s: write result: %v\n", b.name, err)
		return exitRuntime
	}
	return exitOK
}

// Run runs a built-in in this process. getenv supplies the partition
// variables (nil means none are set); flags override them. Errors wrap
// ErrUnknownBuiltin or ErrBadArgument when nothing was run.
func Run(ctx context.Context, name string, args map[string]string, getenv func(string) string) (Result, error) {
	b, err := lookup(name)
	if err != nil {
		return Result{}, err
	}
	a, err := parseArgs(b, args)
	if err != nil {
		return Result{}, err
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	p, err := readPartition(getenv)
	if err != nil {
		return Result{}, fmt.Errorf("workload: %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("workload: %s: %w", name, err)
	}
	began := time.Now()
	res, err := b.run(ctx, a, p)
	if err != nil {
		return Result{}, err
	}
	res.Workload = name
	if res.Seconds == 0 {
		res.Seconds = time.Since(began).Seconds()
	}
	return res, nil
}

// canceled wraps ctx's error once ctx has ended, for the checks built-ins
// make between blocks.
func canceled(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("workload: %s: %w", name, err)
	}
	return nil
}
