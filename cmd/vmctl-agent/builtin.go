package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmctl/vmctl/workload"
)

// builtinCommand is the first argument that runs a built-in workload
// instead of the agent: the host's jobs run "AGENT builtin NAME ...",
// through a guest's agent (which execs its own /init) or natively.
const builtinCommand = "builtin"

// isBuiltin tells a built-in run from an agent run. PID 1 is never one:
// init must not exit, whatever words the kernel hands it.
func isBuiltin(args []string, pid int) bool {
	return pid != 1 && len(args) > 1 && args[1] == builtinCommand
}

// runBuiltin runs workload.Main with args after "builtin". SIGINT and
// SIGTERM cancel the workload so it can clean up (io removes its file).
func runBuiltin(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return workload.Main(ctx, args, os.Getenv, os.Stdout, os.Stderr)
}
