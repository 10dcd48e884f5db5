//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "vmctl-agent: runs only on linux")
	os.Exit(1)
}
