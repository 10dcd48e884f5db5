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
		Usage:     "create a VM and wait until its agent answers",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "vcpus", Value: 1, Usage: "virtual CPUs"},
			&cli.IntFlag{Name: "memory", Value: 256, Usage: "guest memory in `MiB`"},
			&cli.StringFlag{Name: "accel", Value: "auto", Usage: "auto, kvm or tcg"},
			&cli.StringSliceFlag{Name: "share", Usage: "share `HOSTDIR[:TAG[:rw]]` read-only (rw if asked) at /mnt/TAG"},
			&cli.BoolFlag{Name: "no-wait", Usage: "return once the domain starts"},
			&cli.StringFlag{Name: "profile", Value: string(hypervisor.ProfileFast), Usage: "boot profile: fast or stock"},
		},
		Action: func(c *cli.Context) error {
			name, err := requireArg(c, "NAME")
			if err != nil {
				return err
			}
			accel, err := hypervisor.ParseAccel(c.String("accel"))
			if err != nil {
				return err
			}
			var shares []hypervisor.Share
			for _, s := range c.StringSlice("share") {
				sh, err := hypervisor.ParseShare(s)
				if err != nil {
					return err
				}
				shares = append(shares, sh)
			}
			img, err := loadImage(c)
			if err != nil {
				return err
			}
			m, done, err := openManager(c, log)
			if err != nil {
				return err
			}
			defer done()
			res, err := m.Create(c.Context, hypervisor.CreateRequest{
				Name: name, VCPUs: c.Int("vcpus"), MemoryMiB: c.Int("memory"), Accel: accel,
				Shares: shares, Image: img, Profile: hypervisor.BootProfile(c.String("profile")), NoWait: c.Bool("no-wait"),
			})
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(os.Stdout, res)
			}
			if c.Bool("no-wait") {
				fmt.Printf("vm %s started (%s: %s)\n", name, res.Accel.Mode, res.Accel.Reason)
				return nil
			}
			fmt.Printf("vm %s ready in %s (%s; guest kernel %s, guest uptime %.2fs)\n",
				name, res.Ready.Round(time.Millisecond), res.Accel.Mode, res.Hello.KernelRelease, res.Hello.UptimeSeconds)
			return nil
		},
	}
}

func vmListCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:    "list",
		Aliases: []string{"ls"},
		Usage:   "list vmctl's VMs",
		Action: func(c *cli.Context) error {
			m, done, err := openManager(c, log)
			if err != nil {
				return err
			}
			defer done()
			vms, err := m.List(c.Context)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				if vms == nil {
					vms = []hypervisor.DomainInfo{}
				}
				return writeJSON(os.Stdout, vms)
			}
			rows := make([][]string, 0, len(vms))
			for _, v := range vms {
				rows = append(rows, []string{v.Name, string(v.State), fmt.Sprint(v.VCPUs), fmt.Sprint(v.MemoryMiB), string(v.Meta.AccelMode), v.Meta.Created.Local().Format(time.DateTime), m.Backend().URI()})
			}
			return writeTable(os.Stdout, []string{"name", "state", "vcpus", "memory MiB", "accel", "created", "host"}, rows)
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
			m, done, err := openManager(c, log)
			if err != nil {
				return err
			}
			defer done()
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
				{"console log", m.ConsoleLog(v.Name)}, {"host", m.Backend().URI()},
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
			m, done, err := openManager(c, log)
			if err != nil {
				return err
			}
			defer done()
			res, err := m.Exec(c.Context, name, req, os.Stdout, os.Stderr)
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
			m, done, err := openManager(c, log)
			if err != nil {
				return err
			}
			defer done()
			if _, err := m.Show(c.Context, name); err != nil {
				return err
			}
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
			m, done, err := openManager(c, log)
			if err != nil {
				return err
			}
			defer done()
			start := time.Now()
			if _, err := m.Start(c.Context, name); err != nil {
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
			m, done, err := openManager(c, log)
			if err != nil {
				return err
			}
			defer done()
			var errs []error
			for _, name := range c.Args().Slice() {
				res, err := m.Stop(c.Context, name)
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
			m, done, err := openManager(c, log)
			if err != nil {
				return err
			}
			defer done()
			var errs []error
			for _, name := range c.Args().Slice() {
				if err := m.Remove(c.Context, name); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Printf("vm %s removed\n", name)
			}
			return errors.Join(errs...)
		},
	}
}
