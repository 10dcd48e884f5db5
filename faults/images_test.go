//go:build faults

package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// hostileImages are minimal-kernel images whose /init is the hostile
// agent (faults/hostileagent), one per linked-in default mode, built once
// per suite run: each build is about a second (the kernel is cached).
var hostileImages struct {
	mu   sync.Mutex
	dirs map[string]string
}

// hostileImage returns the --image-dir of an image whose /init is the
// hostile agent. defaultMode is its mode when the kernel command line
// names none: "" for an image that takes vmctl.hostile=MODE, "exit" for
// one that can never boot.
func hostileImage(t *testing.T, defaultMode string) string {
	t.Helper()
	hostileImages.mu.Lock()
	defer hostileImages.mu.Unlock()
	if dir, ok := hostileImages.dirs[defaultMode]; ok {
		return dir
	}
	key := defaultMode
	if key == "" {
		key = "cmdline"
	}
	dir := filepath.Join(suite.tmp, "image-hostile-"+key)
	bin := filepath.Join(dir, "hostileagent")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command(goTool(), "build", "-trimpath", "-buildvcs=false",
		"-ldflags", fmt.Sprintf("-s -w -X main.defaultMode=%s", defaultMode), "-o", bin, "./hostileagent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the hostile agent: %v\n%s", err, out)
	}
	img := exec.Command(suite.vmctl, "--image-dir", dir, "image", "build", "--kernel", "minimal", "--agent", bin)
	if out, err := img.CombinedOutput(); err != nil {
		t.Fatalf("build an image around the hostile agent: %v\n%s", err, out)
	}
	if hostileImages.dirs == nil {
		hostileImages.dirs = map[string]string{}
	}
	hostileImages.dirs[defaultMode] = dir
	return dir
}
