// Command vmctl drives QEMU/KVM guests through libvirt: it builds a small
// guest image, boots VMs with an in-guest agent, runs commands in them and
// measures what virtualization costs.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/hypervisor"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logrus.New()
	log.SetOutput(os.Stderr)
	app := newApp(log)
	if err := app.RunContext(ctx, interspersed(app, os.Args)); err != nil {
		var ee exitError
		if errors.As(withExitCode(err), &ee) {
			if ee.err != nil {
				fmt.Fprintf(os.Stderr, "vmctl: %v\n", ee.err)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintf(os.Stderr, "vmctl: %v\n", err)
		os.Exit(1)
	}
}

// exitError carries an exit code out of a command: a guest command's (vm
// exec, err nil: nothing more to print), or vmctl's own for err.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (e exitError) Unwrap() error { return e.err }

// exitLeftBehind is the exit code of a command that did its work but could
// not remove everything it made (VMs, files): the message names each with
// its fix. A command that failed for another reason exits 1 and still
// names what it left.
const exitLeftBehind = 3

// withExitCode gives an error that is nothing but resources left behind
// (hypervisor.OnlyLeftBehind) exit code 3; any other error is unchanged.
func withExitCode(err error) error {
	var ee exitError
	if errors.As(err, &ee) || !hypervisor.OnlyLeftBehind(err) {
		return err
	}
	return exitError{code: exitLeftBehind, err: err}
}

func newApp(log *logrus.Logger) *cli.App {
	return &cli.App{
		Name:    "vmctl",
		Usage:   "run partitioned workloads in QEMU/KVM guests through libvirt",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "connect", Aliases: []string{"c"}, Value: "qemu:///system", EnvVars: []string{"VMCTL_CONNECT"}, Usage: "libvirt `URI`"},
			&cli.StringFlag{Name: "state-dir", Value: hypervisor.DefaultStateDir, EnvVars: []string{"VMCTL_STATE_DIR"}, Usage: "per-VM state `DIR`"},
			&cli.StringFlag{Name: "image-dir", Value: defaultImageDir, EnvVars: []string{"VMCTL_IMAGE_DIR"}, Usage: "guest image cache `DIR`"},
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"VMCTL_LOG_LEVEL"}, Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "output format: table or json"},
			&cli.StringFlag{Name: "hosts", EnvVars: []string{"VMCTL_HOSTS"}, Usage: "hosts `FILE` (YAML) to place VMs on several libvirt hosts; overrides --connect"},
			&cli.StringFlag{Name: "claims-dir", Value: "/var/lib/vmctl/claims", EnvVars: []string{"VMCTL_CLAIMS_DIR"}, Usage: "placement claims `DIR` shared by concurrent vmctl processes"},
		},
		Before: func(c *cli.Context) error {
			lvl, err := logrus.ParseLevel(c.String("log-level"))
			if err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log.SetLevel(lvl)
			switch c.String("output") {
			case "table", "json":
			default:
				return fmt.Errorf("--output %q: use table or json", c.String("output"))
			}
			return nil
		},
		Commands: []*cli.Command{
			doctorCommand(log),
			imageCommand(log),
			vmCommand(log),
			hostsCommand(log),
			placeCommand(log),
			jobCommand(log),
			poolCommand(log),
			benchCommand(log),
			gcCommand(log),
		},
	}
}
