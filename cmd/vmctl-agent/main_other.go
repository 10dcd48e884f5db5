//go:build !linux

package main

import (
	"fmt"
	"os"
)

// Only the built-in workloads run here; the agent itself needs Linux.
func main() {
	if isBuiltin(os.Args, os.Getpid()) {
		os.Exit(runBuiltin(os.Args[2:]))
	}
	fmt.Fprintln(os.Stderr, "vmctl-agent: runs only on linux (except \"builtin\")")
	os.Exit(1)
}
