package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/guestimage"
)

func benchCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure what virtualization costs",
		Subcommands: []*cli.Command{
			benchDispatchCommand(log),
			benchAutoscaleCommand(log),
			benchOverheadCommand(log),
			benchCompareCommand(),
			benchDensityCommand(log),
			benchParallelCommand(log),
			{
				Name:  "boot",
				Usage: "create-to-agent-ready time of vmctl's boot against a stock libvirt direct-kernel boot, in one run",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "count", Value: 5, Usage: "boots per profile"},
					&cli.IntFlag{Name: "vcpus", Value: 1},
					&cli.IntFlag{Name: "memory", Value: 256, Usage: "guest memory in `MiB`"},
					&cli.StringFlag{Name: "accel", Value: "auto"},
					&cli.StringSliceFlag{Name: "profile", Value: cli.NewStringSlice("fast", "stock"), Usage: "profiles to measure (fast, stock)"},
					&cli.StringFlag{Name: "stock-image-dir", Value: defaultImageDir, Usage: "image `DIR` the stock profile boots: Debian's kernel as a plain libvirt boot would run it, whichever kernel --image-dir holds"},
				},
				Action: func(c *cli.Context) error {
					accel, err := hypervisor.ParseAccel(c.String("accel"))
					if err != nil {
						return err
					}
					img, err := loadImage(c)
					if err != nil {
						return err
					}
					stock, err := loadStockImage(c, img)
					if err != nil {
						return err
					}
					var profiles []hypervisor.BootProfile
					for _, p := range c.StringSlice("profile") {
						profiles = append(profiles, hypervisor.BootProfile(p))
					}
					m, done, err := openManager(c, log)
					if err != nil {
						return err
					}
					defer done()
					res, err := m.BootBench(c.Context, hypervisor.BootBenchOptions{
						Count: c.Int("count"), VCPUs: c.Int("vcpus"), MemoryMiB: c.Int("memory"),
						Accel: accel, Image: img, StockImage: &stock, Profiles: profiles,
						Progress: func(p hypervisor.BootProfile, i int, d time.Duration) {
							fmt.Fprintf(os.Stderr, "boot %d/%d %-5s %s\n", i+1, c.Int("count"), p, d.Round(time.Millisecond))
						},
					})
					// VMs it could not remove are named (exit 3); the
					// samples are good.
					if err != nil && !hypervisor.OnlyLeftBehind(err) {
						return err
					}
					left := err
					if jsonOutput(c) {
						return errors.Join(writeJSON(os.Stdout, res), left)
					}
					fmt.Printf("acceleration: %s (%s)\nfast: kernel %s, PVH available: %v; stock: kernel %s\n", res.Accel.Mode, res.Accel.Reason, res.Kernel, res.PVH, res.StockKernel)
					rows := [][]string{}
					for _, s := range res.Summary {
						rows = append(rows, []string{string(s.Profile), fmt.Sprint(s.N), ms(s.P50), ms(s.P90), ms(s.Min), ms(s.Max)})
					}
					if err := writeTable(os.Stdout, []string{"profile", "n", "p50", "p90", "min", "max"}, rows); err != nil {
						return err
					}
					if res.Ratio > 0 {
						fmt.Printf("fast/stock p50 ratio: %.2f\n", res.Ratio)
					}
					return left
				},
			},
		},
	}
}

// loadStockImage loads the stock profile's image; the same directory as
// --image-dir is the image already loaded.
func loadStockImage(c *cli.Context, img hypervisor.BootImage) (hypervisor.BootImage, error) {
	dir := c.String("stock-image-dir")
	if filepath.Clean(dir) == filepath.Clean(c.String("image-dir")) {
		return img, nil
	}
	im, err := guestimage.Load(dir)
	if err != nil {
		return hypervisor.BootImage{}, fmt.Errorf("stock profile's image: %w; build it with `vmctl --image-dir %s image build`, or pass --stock-image-dir", err, dir)
	}
	return bootImage(im), nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
