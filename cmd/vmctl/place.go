package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/scheduler"
)

// placementFlags are shared by vm create and place, so a dry run asks
// exactly what a create would.
func placementFlags() []cli.Flag {
	def := scheduler.DefaultPolicy()
	return []cli.Flag{
		&cli.IntFlag{Name: "vcpus", Value: 1, Usage: "virtual CPUs"},
		&cli.IntFlag{Name: "memory", Value: 256, Usage: "guest memory in `MiB`"},
		&cli.StringFlag{Name: "accel", Value: "auto", Usage: "auto, kvm or tcg (kvm only lands on hosts where KVM is usable)"},
		&cli.BoolFlag{Name: "pin", Usage: "dedicate a host CPU to each vCPU, within one NUMA cell where possible"},
		&cli.StringFlag{Name: "group", Usage: "affinity group `NAME`"},
		&cli.StringFlag{Name: "policy", Usage: "group policy: spread (anti-affinity) or pack (affinity)"},
		&cli.StringFlag{Name: "weigher", Value: def.Weigher, Usage: "host choice: spread (most free first) or pack (least free first)"},
		&cli.Float64Flag{Name: "cpu-allocation-ratio", Value: def.CPUAllocationRatio, Usage: "vCPUs per host CPU for floating VMs"},
		&cli.Float64Flag{Name: "ram-allocation-ratio", Value: def.RAMAllocationRatio, Usage: "guest memory per host memory"},
		&cli.IntFlag{Name: "reserve-mib", Value: def.ReserveMiB, Usage: "host memory never given to guests"},
	}
}

func placementRequest(c *cli.Context) (hypervisor.CreateRequest, scheduler.Request, scheduler.Policy, error) {
	accel, err := hypervisor.ParseAccel(c.String("accel"))
	if err != nil {
		return hypervisor.CreateRequest{}, scheduler.Request{}, scheduler.Policy{}, err
	}
	if c.String("group") != "" && c.String("policy") == "" {
		return hypervisor.CreateRequest{}, scheduler.Request{}, scheduler.Policy{}, errors.New("--group needs --policy spread or --policy pack")
	}
	pol := scheduler.DefaultPolicy()
	pol.Weigher = c.String("weigher")
	pol.CPUAllocationRatio = c.Float64("cpu-allocation-ratio")
	pol.RAMAllocationRatio = c.Float64("ram-allocation-ratio")
	pol.ReserveMiB = c.Int("reserve-mib")
	if err := pol.Validate(); err != nil {
		return hypervisor.CreateRequest{}, scheduler.Request{}, scheduler.Policy{}, err
	}
	creq := hypervisor.CreateRequest{
		VCPUs: c.Int("vcpus"), MemoryMiB: c.Int("memory"), Accel: accel,
		Group: c.String("group"), GroupPolicy: c.String("policy"),
	}
	sreq := scheduler.Request{
		VCPUs: creq.VCPUs, MemoryMiB: creq.MemoryMiB, RequireKVM: accel == hypervisor.AccelKVM,
		Pin: c.Bool("pin"), Group: creq.Group, GroupPolicy: creq.GroupPolicy,
	}
	return creq, sreq, pol, nil
}

func placeCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:  "place",
		Usage: "dry run: where would a VM go, and why (each host's filter and weigher results)",
		Flags: append(placementFlags(), &cli.BoolFlag{Name: "explain", Usage: "show every host's verdict, not only the choice"}),
		Action: func(c *cli.Context) error {
			_, sreq, pol, err := placementRequest(c)
			if err != nil {
				return err
			}
			sreq.Name = "(dry run)"
			hosts, err := inventory(c, log)
			if err != nil {
				return err
			}
			pl, placeErr := scheduler.Place(hosts, sreq, pol)
			if jsonOutput(c) {
				out := map[string]any{"placement": pl}
				if placeErr != nil {
					out["error"] = placeErr.Error()
				}
				if err := writeJSON(os.Stdout, out); err != nil {
					return err
				}
				return placeErr
			}
			if pl != nil && (c.Bool("explain") || placeErr != nil) {
				printVerdicts(pl.Verdicts)
			}
			if placeErr != nil {
				return placeErr
			}
			fmt.Printf("chosen host: %s (%s)", pl.Host.Name, pl.Host.URI)
			if p := pl.Pinning; p != nil {
				fmt.Printf(", vCPUs on CPUs %s, memory on cell %s", hypervisor.FormatCPUSet(p.VCPUs), hypervisor.FormatCPUSet(p.MemoryNodes))
			}
			fmt.Println()
			return nil
		},
	}
}

func printVerdicts(vs []scheduler.Verdict) {
	rows := make([][]string, 0, len(vs))
	for _, v := range vs {
		status, detail := "pass", weightsString(v.Weights)
		score := fmt.Sprintf("%.3f", v.Score)
		if !v.Passed {
			status, detail, score = "filtered: "+v.Filter, v.Reason, "-"
		}
		rows = append(rows, []string{v.Host, status, score, detail})
	}
	writeTable(os.Stdout, []string{"host", "result", "score", "why"}, rows)
}

func weightsString(w map[string]float64) string {
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sortStrings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%.3f", k, w[k]))
	}
	return strings.Join(parts, " ")
}

func hostsCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:  "hosts",
		Usage: "inventory of every host: acceleration, CPUs, NUMA cells, memory, vmctl VMs and pinned CPUs",
		Action: func(c *cli.Context) error {
			hosts, err := inventory(c, log)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(os.Stdout, hosts)
			}
			rows := make([][]string, 0, len(hosts))
			for _, h := range hosts {
				if h.Err != "" {
					rows = append(rows, []string{h.Name, h.URI, "UNREACHABLE", "-", "-", "-", "-", "-", h.Err})
					continue
				}
				accel := "tcg"
				if h.KVM {
					accel = "kvm"
				}
				var cells, pinned []string
				vcpus, mem := 0, 0
				for _, cell := range h.Cells {
					cells = append(cells, fmt.Sprintf("%d:%s(%dMiB free)", cell.ID, hypervisor.FormatCPUSet(cell.CPUs), cell.FreeMiB))
				}
				for _, vm := range h.VMs {
					vcpus += vm.VCPUs
					mem += vm.MemoryMiB
					if len(vm.PinnedCPUs) > 0 {
						pinned = append(pinned, vm.Name+"="+hypervisor.FormatCPUSet(vm.PinnedCPUs))
					}
				}
				rows = append(rows, []string{h.Name, h.URI, accel, fmt.Sprint(h.CPUs), strings.Join(cells, " "),
					fmt.Sprintf("%d/%d", h.MemoryFreeMiB, h.MemoryTotalMiB), fmt.Sprintf("%d (%d vCPU, %d MiB)", len(h.VMs), vcpus, mem),
					strings.Join(pinned, " "), h.KVMReason})
			}
			return writeTable(os.Stdout, []string{"host", "uri", "accel", "cpus", "numa cells", "mem free/total MiB", "vmctl vms", "pinned", "accel reason"}, rows)
		},
	}
}

func tbCacheFlag() cli.Flag {
	return &cli.IntFlag{Name: "tb-cache", Usage: "TCG translation cache in `MiB` (TCG only; 0: QEMU's default, 1 GiB)"}
}
