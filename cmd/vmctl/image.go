package main

import (
	"fmt"
	"os"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/hypervisor/guestimage"
)

func imageCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "build and inspect the guest image (kernel + initramfs with the agent)",
		Subcommands: []*cli.Command{
			{
				Name:  "build",
				Usage: "build the guest image: a kernel plus an initramfs with the agent (cached; rebuilt only when an input changes)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "kernel", Value: string(guestimage.KernelDebian), Usage: "`FLAVOR`: debian (Debian's generic kernel package, virtio drivers as modules) or minimal (built once from linux-source-6.1 with everything the guest needs built in; the first build takes minutes)"},
					&cli.StringFlag{Name: "kernel-deb", Usage: "use this linux-image `FILE`.deb instead of downloading with apt-get (--kernel debian)"},
					&cli.StringFlag{Name: "kernel-dir", Value: guestimage.DefaultKernelCacheDir, Usage: "`DIR` where minimal kernels are built and cached (--kernel minimal)"},
					&cli.StringFlag{Name: "kernel-source", Value: guestimage.DefaultKernelSource, Usage: "kernel source `TARBALL` (--kernel minimal)"},
					&cli.BoolFlag{Name: "force-kernel", Usage: "rebuild the minimal kernel too, not just the image (--kernel minimal)"},
					&cli.StringFlag{Name: "agent", Value: defaultAgentPath(), Usage: "static vmctl-agent `BINARY`"},
					&cli.StringFlag{Name: "busybox", Value: "/bin/busybox", Usage: "static busybox `BINARY` for the guest userland"},
					&cli.BoolFlag{Name: "force", Usage: "rebuild even if the cached image matches"},
				},
				Action: func(c *cli.Context) error {
					start := time.Now()
					im, err := guestimage.Build(c.Context, guestimage.Options{
						CacheDir: c.String("image-dir"), Kernel: guestimage.KernelFlavor(c.String("kernel")),
						KernelDeb: c.String("kernel-deb"), KernelCacheDir: c.String("kernel-dir"), KernelSource: c.String("kernel-source"),
						AgentPath: c.String("agent"), BusyboxPath: c.String("busybox"),
						Force: c.Bool("force"), ForceKernel: c.Bool("force-kernel"), Log: log,
					})
					if err != nil {
						return fmt.Errorf("image build: %w", err)
					}
					if !im.Cached {
						pruneImages(c, log)
					}
					if jsonOutput(c) {
						return writeJSON(os.Stdout, im)
					}
					state := "built"
					if im.Cached {
						state = "cached (inputs unchanged)"
					}
					fmt.Printf("image %s in %s: %s kernel %s, PVH %v\n  %s\n", state, time.Since(start).Round(time.Millisecond), im.KernelFlavor, im.KernelRelease, im.PVH, im.Dir)
					return nil
				},
			},
			{
				Name:  "prune",
				Usage: "remove cached images that are neither current nor used by a vmctl VM",
				Action: func(c *cli.Context) error {
					removed, err := pruneImages(c, log)
					if err != nil {
						return err
					}
					fmt.Printf("removed %d unused image(s)\n", len(removed))
					return nil
				},
			},
			{
				Name:  "show",
				Usage: "show the current guest image",
				Action: func(c *cli.Context) error {
					im, err := guestimage.Load(c.String("image-dir"))
					if err != nil {
						return err
					}
					if jsonOutput(c) {
						return writeJSON(os.Stdout, im)
					}
					return writeTable(os.Stdout, []string{"field", "value"}, [][]string{
						{"dir", im.Dir}, {"kernel", string(im.KernelFlavor)}, {"kernel release", im.KernelRelease}, {"boot kernel", im.Kernel},
						{"PVH", fmt.Sprint(im.PVH)}, {"initramfs", im.Initramfs},
					})
				},
			},
		},
	}
}

// pruneImages removes cached images no VM on --connect boots from. If
// libvirt cannot be asked, nothing is removed: an image in use must never go.
func pruneImages(c *cli.Context, log *logrus.Logger) ([]string, error) {
	m, done, err := openManager(c, log)
	if err != nil {
		log.WithError(err).Warn("not pruning old images: cannot list VMs")
		return nil, err
	}
	defer done()
	vms, err := m.List(c.Context)
	if err != nil {
		log.WithError(err).Warn("not pruning old images: cannot list VMs")
		return nil, err
	}
	keep := make([]string, 0, len(vms))
	for _, v := range vms {
		keep = append(keep, v.Meta.ImageDir)
	}
	removed, err := guestimage.Prune(c.Context, c.String("image-dir"), keep, log)
	for _, r := range removed {
		log.WithField("dir", r).Info("removed unused guest image")
	}
	return removed, err
}
