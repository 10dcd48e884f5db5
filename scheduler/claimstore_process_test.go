package scheduler

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// helperDirEnv makes the test binary a claim-holding helper process (see
// TestHelperProcess) instead of running tests.
const (
	helperDirEnv  = "VMCTL_SCHEDULER_HELPER_CLAIMS_DIR"
	helperNameEnv = "VMCTL_SCHEDULER_HELPER_VM"
)

// TestHelperProcess is not a test: re-executed by
// TestReserveConcurrentProcesses, it reserves 256 MiB on smallHost, prints
// "ok", "full" or "error: ..." and holds its claim, as a slow create would,
// until its stdin closes.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := NewClaimStore(dir)
	if err == nil {
		var release func() error
		_, release, err = s.Reserve(ctx, staticInventory(smallHost()), vmReq(os.Getenv(helperNameEnv), 256), DefaultPolicy())
		if err == nil {
			fmt.Println("ok")
			io.Copy(io.Discard, os.Stdin)
			if err := release(); err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	if errors.Is(err, ErrNoValidHost) {
		fmt.Println("full")
	} else {
		fmt.Println("error:", err)
	}
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// TestReserveConcurrentProcesses: ten vmctl-like processes reserve 256 MiB
// each on one 1024 MiB host at the same time and hold their claims. The
// flock and the claim files must let exactly four through.
func TestReserveConcurrentProcesses(t *testing.T) {
	dir := t.TempDir()
	type helper struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *bufio.Reader
	}
	helpers := make([]helper, 10)
	for i := range helpers {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		// GORACE: under -race a process sleeps a second at exit by default.
		cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, fmt.Sprintf("%s=vm%d", helperNameEnv, i), "GORACE=atexit_sleep_ms=0")
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		helpers[i] = helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	}
	t.Cleanup(func() {
		for _, h := range helpers {
			h.stdin.Close()
			h.cmd.Wait()
		}
	})

	ok, full := 0, 0
	for i, h := range helpers {
		line, err := h.out.ReadString('\n')
		if err != nil {
			t.Fatalf("helper %d: %v (read %q)", i, err, line)
		}
		switch strings.TrimSpace(line) {
		case "ok":
			ok++
		case "full":
			full++
		default:
			t.Errorf("helper %d: %s", i, line)
		}
	}
	if ok != 4 || full != 6 {
		t.Fatalf("%d processes reserved, %d were refused; want 4 and 6", ok, full)
	}
	if n := len(claimFiles(t, dir)); n != 4 {
		t.Fatalf("%d claim files while held, want 4", n)
	}

	// Releasing (each helper on stdin EOF) leaves no claim behind.
	for _, h := range helpers {
		h.stdin.Close()
	}
	for i, h := range helpers {
		if err := h.cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v", i, err)
		}
	}
	if n := len(claimFiles(t, dir)); n != 0 {
		t.Fatalf("%d claim files after every helper released", n)
	}
}
