package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/bench"
)

func benchCompareCommand() *cli.Command {
	return &cli.Command{
		Name:      "compare",
		Usage:     "set two `bench overhead` JSON reports side by side (e.g. two hosts, or before and after a change)",
		ArgsUsage: "A.json B.json",
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("give two reports: vmctl bench compare A.json B.json (write them with bench overhead --json FILE)")
			}
			a, err := bench.ReadReport(c.Args().Get(0))
			if err != nil {
				return err
			}
			b, err := bench.ReadReport(c.Args().Get(1))
			if err != nil {
				return err
			}
			rows := bench.Compare(a, b)
			if jsonOutput(c) {
				return writeJSON(os.Stdout, map[string]any{"a": a.Host, "b": b.Host, "rows": rows})
			}
			fmt.Printf("A: %s (%s, %d cores, QEMU %s)\nB: %s (%s, %d cores, QEMU %s)\n",
				a.Host.Hostname, a.Host.CPUModel, a.Host.Cores, a.Host.QEMU, b.Host.Hostname, b.Host.CPUModel, b.Host.Cores, b.Host.QEMU)
			iv := func(i *bench.Interval) string {
				if i == nil {
					return "-"
				}
				return fmt.Sprintf("%.3f [%.3f, %.3f]", i.Estimate, i.Low, i.High)
			}
			var out [][]string
			for _, r := range rows {
				change := r.Note
				if r.Note == "" {
					change = fmt.Sprintf("%.2fx", r.Change)
					if r.Differs {
						change += " (intervals disjoint)"
					} else {
						change += " (within noise)"
					}
				}
				out = append(out, []string{r.Workload, r.Variant, iv(r.A), iv(r.B), change})
			}
			return writeTable(os.Stdout, []string{"workload", "variant", "A VM/native", "B VM/native", "B/A"}, out)
		},
	}
}
