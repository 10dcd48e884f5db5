//go:build linux

package main

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmctl/vmctl/agent"
)

// buildAgent builds the agent the way the image builder must: static.
func buildAgent(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "vmctl-agent")
	cmd := exec.Command(gobin, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestAgentBinaryIsStatic(t *testing.T) {
	f, err := elf.Open(buildAgent(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("binary has a %v program header: not static", p.Type)
		}
	}
}

// startAgent runs the built agent on a unix socket and returns a dial func.
func startAgent(t *testing.T, bin string) (agent.DialFunc, *exec.Cmd, *bytes.Buffer) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command(bin, "--listen", "unix:"+sock)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	dial := func(ctx context.Context) (io.ReadWriteCloser, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return dial, cmd, &logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent never listened; log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAgentEndToEnd(t *testing.T) {
	dial, cmd, logs := startAgent(t, buildAgent(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := agent.Connect(ctx, dial)
	if err != nil {
		t.Fatalf("connect: %v\nlog:\n%s", err, logs.String())
	}
	defer c.Close()
	release, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	if info := c.Hello(); info.KernelRelease != strings.TrimSpace(string(release)) || info.AgentVersion != "dev" || info.Boot.PID1 {
		t.Errorf("hello = %+v", info)
	}

	t.Run("exec sh -c", func(t *testing.T) {
		res, err := c.Exec(ctx, &agent.ExecRequest{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 4"}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 4 || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("exec streaming", func(t *testing.T) {
		var out, errOut bytes.Buffer
		res, err := c.Exec(ctx, &agent.ExecRequest{Argv: []string{"sh", "-c", "seq 1 20000; echo done >&2"}}, &out, &errOut)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if res.ExitCode != 0 || len(lines) != 20000 || lines[19999] != "20000" || errOut.String() != "done\n" {
			t.Errorf("exit %d, %d lines, stderr %q", res.ExitCode, len(lines), errOut.String())
		}
	})
	t.Run("exec timeout", func(t *testing.T) {
		res, err := c.Exec(ctx, &agent.ExecRequest{Argv: []string{"sleep", "60"}, Timeout: 300 * time.Millisecond}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.TimedOut {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("stats", func(t *testing.T) {
		st, err := c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.NumCPU < 1 || st.Memory.Total == 0 || st.UptimeSeconds <= 0 || st.CPU.User+st.CPU.System+st.CPU.Idle == 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("poweroff refused when not PID 1", func(t *testing.T) {
		err := c.Poweroff(ctx)
		var remote *agent.RemoteError
		if !errors.As(err, &remote) || !errors.Is(err, agent.ErrUnsupported) || !strings.Contains(remote.Message, "not PID 1") {
			t.Errorf("poweroff error = %v", err)
		}
	})
	t.Run("a new connection per command", func(t *testing.T) {
		for range 3 {
			c2, err := agent.Connect(ctx, dial)
			if err != nil {
				t.Fatal(err)
			}
			if err := c2.Ping(ctx); err != nil {
				t.Error(err)
			}
			_ = c2.Close()
		}
	})

	_ = c.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("agent exited with %v; log:\n%s", err, logs.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("agent ignored SIGTERM")
	}
	if !strings.Contains(logs.String(), "vmctl-agent: serving on unix:") {
		t.Errorf("log lacks the serving line:\n%s", logs.String())
	}
}

func TestAgentBadFlags(t *testing.T) {
	bin := buildAgent(t)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"listen without unix prefix", []string{"--listen", "/tmp/x.sock"}, 1},
		{"unknown flag", []string{"--bogus"}, 2},
		{"missing port device", []string{"--port", "/nonexistent/vport9p9"}, 1},
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
}
