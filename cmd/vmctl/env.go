package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/guestimage"
	"github.com/vmctl/vmctl/hypervisor/libvirtbackend"
)

const defaultImageDir = "/var/lib/vmctl/images"

// openManager connects to the --connect URI. The returned close function
// releases the libvirt connection.
func openManager(c *cli.Context, log *logrus.Logger) (*hypervisor.Manager, func(), error) {
	b, err := libvirtbackend.Open(c.Context, c.String("connect"), libvirtbackend.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	m, err := hypervisor.NewManager(b, hypervisor.Config{StateDir: c.String("state-dir"), MemoryReserveMiB: hypervisor.DefaultMemoryReserveMiB},
		hypervisor.WithLogger(log))
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return m, func() { b.Close() }, nil
}

// loadImage returns the current guest image as the hypervisor sees it.
func loadImage(c *cli.Context) (hypervisor.BootImage, error) {
	im, err := guestimage.Load(c.String("image-dir"))
	if err != nil {
		return hypervisor.BootImage{}, err
	}
	return bootImage(im), nil
}

func bootImage(im *guestimage.Image) hypervisor.BootImage {
	return hypervisor.BootImage{Dir: im.Dir, Kernel: im.Kernel, BzImage: im.BzImage, Initramfs: im.Initramfs, PVH: im.PVH, Release: im.KernelRelease}
}

// defaultAgentPath is the vmctl-agent built next to this executable.
func defaultAgentPath() string {
	exe, err := os.Executable()
	if err != nil {
		return "vmctl-agent"
	}
	return filepath.Join(filepath.Dir(exe), "vmctl-agent")
}

func requireArg(c *cli.Context, what string) (string, error) {
	if c.NArg() < 1 {
		return "", fmt.Errorf("%s: missing %s; see `vmctl %s --help`", c.Command.FullName(), what, c.Command.FullName())
	}
	return c.Args().First(), nil
}
