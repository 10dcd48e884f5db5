//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/internal/guest"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

const (
	// portWaitTimeout bounds the search for the port: it appears only once
	// virtio_console has loaded and probed.
	portWaitTimeout = 5 * time.Second
	// restartDelay paces PID 1's retries when serving fails, since init
	// must never exit.
	restartDelay = time.Second
)

type options struct {
	port   string
	listen string
	name   string
}

func main() {
	// Before anything PID 1 would do: a built-in is a short-lived child
	// of the agent, or a native run on the host.
	if isBuiltin(os.Args, os.Getpid()) {
		os.Exit(runBuiltin(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	started := time.Now()
	pid1 := os.Getpid() == 1
	logger := log.New(os.Stderr, "vmctl-agent: ", 0)

	var opts options
	fs := flag.NewFlagSet("vmctl-agent", flag.ContinueOnError)
	fs.StringVar(&opts.port, "port", "", "serve on this virtio port `device`")
	fs.StringVar(&opts.listen, "listen", "", "serve on `unix:PATH` instead of a virtio port")
	fs.StringVar(&opts.name, "name", guest.AgentPortName, "virtio port `name` to look for under /sys/class/virtio-ports")
	if err := fs.Parse(args); err != nil && !pid1 {
		// The kernel hands init whatever command line words it did not
		// use; PID 1 ignores what it cannot parse.
		return 2
	}

	ctx := context.Background()
	var starter agent.ProcessStarter
	var boot agent.BootInfo
	if pid1 {
		boot = initSystem(ctx, logger)
		r := newReaper(logger)
		go r.run(ctx)
		starter = r
	} else {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
	}

	for {
		err := serve(ctx, logger, opts, started, boot, pid1, starter)
		if !pid1 {
			if err != nil && !errors.Is(err, context.Canceled) {
				logger.Print(err)
				return 1
			}
			return 0
		}
		logger.Printf("%v; restarting in %v", err, restartDelay)
		select {
		case <-time.After(restartDelay):
		case <-ctx.Done():
		}
	}
}

func serve(ctx context.Context, logger *log.Logger, opts options, started time.Time, boot agent.BootInfo, pid1 bool, starter agent.ProcessStarter) error {
	l, where, wait, err := listen(ctx, opts)
	if err != nil {
		return err
	}
	boot.PID1 = pid1
	if boot.PortWait == 0 {
		boot.PortWait = wait
	}
	if boot.InitTime == 0 {
		boot.InitTime = time.Since(started)
	}
	h := &guestHandler{
		LocalHandler: agent.LocalHandler{
			AgentVersion: version,
			Boot:         boot,
			Executor:     agent.Executor{Starter: starter},
		},
		pid1:     pid1,
		log:      logger,
		poweroff: powerOffNow,
	}
	logger.Printf("serving on %s (port found after %d ms, ready %d ms after start)", where, wait.Milliseconds(), boot.InitTime.Milliseconds())
	return agent.Serve(ctx, l, h, agent.WithLogger(logger))
}

// listen picks the transport the options ask for and reports how long
// finding it took.
func listen(ctx context.Context, opts options) (agent.Listener, string, time.Duration, error) {
	switch {
	case opts.listen != "":
		path, ok := strings.CutPrefix(opts.listen, "unix:")
		if !ok || path == "" {
			return nil, "", 0, fmt.Errorf("--listen %q: want unix:PATH", opts.listen)
		}
		// A socket left by a previous run would make Listen fail.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, "", 0, fmt.Errorf("remove stale socket: %w", err)
		}
		nl, err := net.Listen("unix", path)
		if err != nil {
			return nil, "", 0, fmt.Errorf("listen: %w", err)
		}
		return agent.NetListener(nl), opts.listen, 0, nil
	case opts.port != "":
		l, err := guest.OpenPort(opts.port)
		return l, opts.port, 0, err
	}
	began := time.Now()
	fctx, cancel := context.WithTimeout(ctx, portWaitTimeout)
	defer cancel()
	dev, err := guest.FindPort(fctx, guest.SysVirtioPorts, opts.name)
	wait := time.Since(began)
	if err != nil {
		return nil, "", wait, err
	}
	l, err := guest.OpenPort(dev)
	return l, dev, wait, err
}
