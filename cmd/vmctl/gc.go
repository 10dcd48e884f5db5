package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/reap"
	"github.com/vmctl/vmctl/scheduler"
)

func gcCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name: "gc",
		Usage: "list what vmctl made and nothing owns any more (VMs of vmctl processes that died, state directories, " +
			"scratch disks, agent sockets, placement claims); --yes removes it",
		ArgsUsage: "[NAME...] (only these VMs' leftovers)",
		Description: "A dry run unless --yes. VMs made by `vm create` have no owner and are never listed; domains without " +
			"vmctl's metadata are never touched. -o json prints an array (always; [] when nothing is found) of " +
			`{"kind", "host", "name", "path", "owner", "reason", "removed", "error"}. Exit 3 when --yes could not remove something.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "remove what is found (default: only list it)"},
		},
		Action: func(c *cli.Context) error {
			specs, err := hostSpecs(c)
			if err != nil {
				return err
			}
			// Unreachable hosts are reported by the scan, never fatal.
			fleet := scheduler.OpenFleet(c.Context, specs, backendOpener(log), managerConfig(c), hypervisor.WithLogger(log))
			defer fleet.Close()
			claims, err := scheduler.NewClaimStore(c.String("claims-dir"))
			if err != nil {
				return err
			}
			r, err := reap.New(reap.Config{Fleet: fleet, Claims: claims, StateDir: c.String("state-dir")})
			if err != nil {
				return err
			}
			rep, err := r.Scan(c.Context)
			if err != nil {
				return err
			}
			for _, s := range rep.Skipped {
				fmt.Fprintf(os.Stderr, "vmctl gc: %s\n", s)
			}
			found := reap.Filter(rep.Findings, c.Args().Slice())
			if found == nil {
				found = []reap.Finding{}
			}
			var rmErr error
			if c.Bool("yes") {
				found, rmErr = r.Remove(c.Context, found)
			}
			if jsonOutput(c) {
				if err := writeJSON(os.Stdout, found); err != nil {
					return err
				}
				return rmErr
			}
			if err := printFindings(os.Stdout, found, c.Bool("yes")); err != nil {
				return err
			}
			return rmErr
		},
	}
}

func printFindings(w io.Writer, found []reap.Finding, removed bool) error {
	if len(found) == 0 {
		fmt.Fprintln(w, "nothing left behind")
		return nil
	}
	header := []string{"kind", "host", "name/path", "owner", "reason"}
	if removed {
		header = append(header, "result")
	}
	rows := make([][]string, 0, len(found))
	for _, f := range found {
		what := f.Name
		if f.Kind != reap.KindDomain && f.Path != "" {
			what = f.Path
		}
		row := []string{string(f.Kind), f.Host, what, f.Owner, f.Reason}
		if removed {
			res := "removed"
			if !f.Removed {
				res = "error: " + f.Error
			}
			row = append(row, res)
		}
		rows = append(rows, row)
	}
	if err := writeTable(w, header, rows); err != nil {
		return err
	}
	if !removed {
		fmt.Fprintln(w, "dry run: `vmctl gc --yes` removes these")
	}
	return nil
}
