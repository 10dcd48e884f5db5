package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/scheduler"
)

// maxStdin bounds what vm exec --stdin sends in one request; larger inputs
// belong in a --share.
const maxStdin = 1 << 20

func vmCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:  "vm",
		Usage: "create, inspect, use and remove VMs",
		Subcommands: []*cli.Command{
			vmCreateCommand(log), vmListCommand(log), vmShowCommand(log), vmExecCommand(log),
			vmConsoleCommand(log), vmStartCommand(log), vmStopCommand(log), vmRmCommand(log),
		},
	}
}

func vmCreateCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "place a VM on a host, create it and wait until its agent answers",
		ArgsUsage: "NAME",
		Flags: append(placementFlags(),
			&cli.StringSliceFlag{Name: "share", Usage: "share `HOSTDIR[:TAG[:rw]]` read-only (rw if asked) at /mnt/TAG"},
			&cli.BoolFlag{Name: "no-wait", Usage: "return once the domain starts"},
			&cli.StringFlag{Name: "profile", Value: string(hypervisor.ProfileFast), Usage: "boot profile: fast or stock"},
			tbCacheFlag(),
			&cli.StringFlag{Name: "kernel-args", Usage: "`ARGS` appended to the guest kernel's command line (e.g. \"loglevel=7\" to see the boot in `vm console --log`)"},
		),
		Action: func(c *cli.Context) error {
			name, err := requireArg(c, "NAME")
			if err != nil {
				return err
			}
			if err := hypervisor.ValidateName(name); err != nil {
				return err
			}
			creq, sreq, pol, err := placementRequest(c)
			if err != nil {
				return err
			}
			creq.Name = name
			for _, s := range c.StringSlice("share") {
				sh, err := hypervisor.ParseShare(s)
				if err != nil {
					return err
				}
				creq.Shares = append(creq.Shares, sh)
			}
			if creq.Image, err = loadImage(c); err != nil {
				return err
			}
			creq.Profile = hypervisor.BootProfile(c.String("profile"))
			creq.NoWait = c.Bool("no-wait")
			creq.TBCacheMiB = c.Int("tb-cache")
			creq.ExtraKernelArgs = c.String("kernel-args")
			f, err := openFleet(c, log)
			if err != nil {
				return err
			}
			defer f.Close()
			claims, err := scheduler.NewClaimStore(c.String("claims-dir"))
			if err != nil {
				return err
			}
			res, err := f.Create(c.Context, claims, pol, sreq, creq)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(os.Stdout, res)
			}
			pin := ""
			if p := res.Placement.Pinning; p != nil {
				pin = fmt.Sprintf(", vCPUs pinned to CPUs %s, memory on cell %s", hypervisor.FormatCPUSet(p.VCPUs), hypervisor.FormatCPUSet(p.MemoryNodes))
			}
			if creq.NoWait {
				fmt.Printf("vm %s started on %s (%s: %s%s)\n", name, res.Host, res.Accel.Mode, res.Accel.Reason, pin)
				return nil
			}
			fmt.Printf("vm %s ready in %s on %s (%s; guest kernel %s, guest uptime %.2fs%s)\n",
				name, res.Ready.Round(time.Millisecond), res.Host, res.Accel.Mode, res.Hello.KernelRelease, res.Hello.UptimeSeconds, pin)
			return nil
		},
	}
}

func vmListCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:    "list",
		Aliases: []string{"ls"},
		Usage:   "list vmctl's VMs on every host",
		Action: func(c *cli.Context) error {
			f, err := openFleet(c, log)
			if err != nil {
				return err
			}
			defer f.Close()
			vms, listErr := f.List(c.Context)
			if listErr != nil {
				log.Warn(listErr)
			}
			if jsonOutput(c) {
				if vms == nil {
					vms = []hypervisor.DomainInfo{}
				}
				return writeJSON(os.Stdout, vms)
			}
			rows := make([][]string, 0, len(vms))
			for _, v := range vms {
				pinned := "-"
				if len(v.PinnedCPUs) > 0 {
					pinned = hypervisor.FormatCPUSet(v.PinnedCPUs)
				}
				rows = append(rows, []string{v.Name, v.Host, string(v.State), fmt.Sprint(v.VCPUs), fmt.Sprint(v.MemoryMiB), pinned, string(v.Meta.AccelMode), v.Meta.Group, v.Meta.Created.Local().Format(time.DateTime)})
			}
			return writeTable(os.Stdout, []string{"name", "host", "state", "vcpus", "memory MiB", "pinned", "accel", "group", "created"}, rows)
		},
	}
}

func vmShowCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show one VM, including its acceleration and why",
		ArgsUsage: "NAME",
		Action: func(c *cli.Context) error {
			name, err := requireArg(c, "NAME")
			if err != nil {
				return err
			}
			f, member, err := findVM(c, log, name)
			if err != nil {
				return err
			}
			defer f.Close()
			m := member.Manager
			v, err := m.Show(c.Context, name)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(os.Stdout, v)
			}
			shares := make([]string, 0, len(v.Meta.Shares))
			for _, s := range v.Meta.Shares {
				mode := "ro"
				if s.Writable {
					mode = "rw"
				}
				shares = append(shares, fmt.Sprintf("%s -> %s (%s)", s.HostDir, s.GuestPath(), mode))
			}
			return writeTable(os.Stdout, []string{"field", "value"}, [][]string{
				{"name", v.Name}, {"uuid", v.UUID}, {"state", string(v.State)},
				{"vcpus", fmt.Sprint(v.VCPUs)}, {"memory", fmt.Sprintf("%d MiB", v.MemoryMiB)},
				{"accel", string(v.Meta.AccelMode)}, {"accel reason", v.Meta.AccelReason},
				{"profile", v.Meta.Profile}, {"image", v.Meta.ImageDir}, {"shares", strings.Join(shares, "; ")},
				{"created", v.Meta.Created.Local().Format(time.RFC3339)}, {"qemu pid", fmt.Sprint(v.QEMUPid)},
				{"console log", m.ConsoleLog(v.Name)}, {"host", member.Spec.Name + " (" + m.Backend().URI() + ")"},
				{"pinned CPUs", hypervisor.FormatCPUSet(v.PinnedCPUs)}, {"memory nodes", hypervisor.FormatCPUSet(v.MemoryNodes)},
				{"group", strings.TrimSpace(v.Meta.Group + " " + v.Meta.GroupPolicy)},
			})
		},
	}
}

func vmExecCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command in the guest; its output streams here and its exit code is vmctl's",
		ArgsUsage: "NAME -- CMD [ARGS...]",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 0, Usage: "kill the command after this long (0: no limit)"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "`KEY=VALUE` for the command"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working `DIR` in the guest"},
			&cli.BoolFlag{Name: "stdin", Aliases: []string{"i"}, Usage: "send this process's stdin (up to 1 MiB) to the command"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return errors.New("vm exec: usage: vmctl vm exec NAME -- CMD [ARGS...]")
			}
			name, argv := c.Args().First(), c.Args().Tail()
			// urfave/cli stops parsing flags at NAME and passes "--" through.
			if len(argv) > 0 && argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				return errors.New("vm exec: no command given: vmctl vm exec NAME -- CMD [ARGS...]")
			}
			req := &agent.ExecRequest{Argv: argv, Env: c.StringSlice("env"), Dir: c.String("workdir")}
			if t := c.Duration("timeout"); t > 0 {
				req.Timeout = t
			}
			if c.Bool("stdin") {
				in, err := io.ReadAll(io.LimitReader(os.Stdin, maxStdin+1))
				if err != nil {
					return fmt.Errorf("read stdin: %w", err)
				}
				if len(in) > maxStdin {
					return fmt.Errorf("stdin is larger than %d bytes; pass large inputs through --share", maxStdin)
				}
				req.Stdin = in
			}
			f, member, err := findVM(c, log, name)
			if err != nil {
				return err
			}
			defer f.Close()
			res, err := member.Manager.Exec(c.Context, name, req, os.Stdout, os.Stderr)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				if err := writeJSON(os.Stdout, res); err != nil {
					return err
				}
			}
			switch {
			case res.TimedOut:
				fmt.Fprintf(os.Stderr, "vmctl: command timed out after %s\n", c.Duration("timeout"))
				return exitError{code: 124}
			case res.Signal != "":
				fmt.Fprintf(os.Stderr, "vmctl: command killed by signal %s\n", res.Signal)
				return exitError{code: 128 + int(unix.SignalNum(res.Signal))}
			case res.ExitCode != 0:
				return exitError{code: res.ExitCode}
			}
			return nil
		},
	}
}

func vmConsoleCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "console",
		Usage:     "attach to the guest's serial console (Ctrl-] detaches); --log prints the saved boot log",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "log", Usage: "print the saved console log and exit"}},
		Action: func(c *cli.Context) error {
			name, err := requireArg(c, "NAME")
			if err != nil {
				return err
			}
			f, member, err := findVM(c, log, name)
			if err != nil {
				return err
			}
			defer f.Close()
			m := member.Manager
			if c.Bool("log") || !term.IsTerminal(int(os.Stdin.Fd())) {
				f, err := os.Open(m.ConsoleLog(name))
				if err != nil {
					return fmt.Errorf("console log of %s: %w", name, err)
				}
				defer f.Close()
				_, err = io.Copy(os.Stdout, f)
				return err
			}
			return attachConsole(c.Context, m, name)
		},
	}
}

func attachConsole(ctx context.Context, m *hypervisor.Manager, name string) error {
	con, err := m.Backend().OpenConsole(ctx, name)
	if err != nil {
		return err
	}
	defer con.Close()
	old, err := term.MakeRaw(int(os.Stdin.Fd()))
	if err != nil {
		return fmt.Errorf("console: raw terminal: %w", err)
	}
	defer term.Restore(int(os.Stdin.Fd()), old)
	fmt.Fprintf(os.Stderr, "connected to %s console; Ctrl-] detaches\r\n", name)
	errc := make(chan error, 2)
	go func() { _, err := io.Copy(os.Stdout, con); errc <- err }()
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := os.Stdin.Read(buf)
			if err != nil {
				errc <- err
				return
			}
			if i := strings.IndexByte(string(buf[:n]), 0x1d); i >= 0 {
				con.Write(buf[:i])
				errc <- nil
				return
			}
			if _, err := con.Write(buf[:n]); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func vmStartCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "start a stopped VM and wait for its agent",
		ArgsUsage: "NAME",
		Action: func(c *cli.Context) error {
			name, err := requireArg(c, "NAME")
			if err != nil {
				return err
			}
			f, member, err := findVM(c, log, name)
			if err != nil {
				return err
			}
			defer f.Close()
			start := time.Now()
			if _, err := member.Manager.Start(c.Context, name); err != nil {
				return err
			}
			fmt.Printf("vm %s ready in %s\n", name, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}

func vmStopCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "power a VM off through its agent, forcing it off after a timeout",
		ArgsUsage: "NAME [NAME...]",
		Action: func(c *cli.Context) error {
			if _, err := requireArg(c, "NAME"); err != nil {
				return err
			}
			f, err := openFleet(c, log)
			if err != nil {
				return err
			}
			defer f.Close()
			var errs []error
			for _, name := range c.Args().Slice() {
				member, _, err := f.Find(c.Context, name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				res, err := member.Manager.Stop(c.Context, name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				how := "cleanly"
				if res.Forced {
					how = "forced"
				}
				fmt.Printf("vm %s stopped (%s, %s)\n", name, how, res.Took.Round(time.Millisecond))
			}
			return errors.Join(errs...)
		},
	}
}

func vmRmCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "destroy VMs and remove every file vmctl made for them",
		ArgsUsage: "NAME [NAME...]",
		Action: func(c *cli.Context) error {
			if _, err := requireArg(c, "NAME"); err != nil {
				return err
			}
			f, err := openFleet(c, log)
			if err != nil {
				return err
			}
			defer f.Close()
			// A VM that could not be removed is named with its fix
			// (exit 3 when that is all that went wrong); a name no
			// host has, or a domain that is not vmctl's, exits 1.
			var errs []error
			for _, name := range c.Args().Slice() {
				if err := f.Remove(c.Context, name); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Printf("vm %s removed\n", name)
			}
			return errors.Join(errs...)
		},
	}
}
