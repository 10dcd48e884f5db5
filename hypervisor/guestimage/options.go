package guestimage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
)

const (
	// DefaultCacheDir is where images are kept when Options.CacheDir is empty.
	DefaultCacheDir = "/var/lib/vmctl/images"
	// DefaultBusyboxPath is where Debian's busybox-static puts its binary.
	DefaultBusyboxPath = "/bin/busybox"
	// DefaultKernelCacheDir is where minimal kernels are built and kept
	// when Options.KernelCacheDir is empty.
	DefaultKernelCacheDir = "/var/lib/vmctl/kernels"
	// DefaultKernelSource is the source tarball Debian's linux-source-6.1
	// package installs; the minimal kernel is built from it.
	DefaultKernelSource = "/usr/src/linux-source-6.1.tar.xz"
)

// KernelFlavor names where the guest kernel comes from.
type KernelFlavor string

const (
	// KernelDebian is Debian's generic linux-image package: every driver a
	// module, the virtio ones loaded by the agent. The default.
	KernelDebian KernelFlavor = "debian"
	// KernelMinimal is built from linux-source-6.1 with tinyconfig plus
	// kernel/minimal.config: everything the guest needs built in, nothing
	// else, no modules.
	KernelMinimal KernelFlavor = "minimal"
)

// KernelFlavors lists the valid flavors, the default first.
func KernelFlavors() []KernelFlavor { return []KernelFlavor{KernelDebian, KernelMinimal} }

// DefaultModules returns the modules the agent needs when Options.Modules is
// empty: virtio PCI transport, the virtio-serial console used as the agent
// channel, 9p shares, block, net and rng devices. A fresh slice each call, so
// callers may modify it.
func DefaultModules() []string {
	return []string{"virtio_pci", "virtio_console", "9p", "9pnet_virtio", "virtio_blk", "virtio_net", "virtio_rng"}
}

// Options configure Build.
type Options struct {
	// CacheDir holds the images; DefaultCacheDir when empty.
	CacheDir string
	// Kernel selects the kernel flavor; KernelDebian when empty.
	Kernel KernelFlavor
	// KernelDeb is a linux-image-*.deb to take the kernel from (KernelDebian
	// only). When empty, the package linux-image-amd64 currently depends on
	// is fetched with apt-get download into <CacheDir>/debs (and reused from
	// there).
	KernelDeb string
	// KernelCacheDir holds built minimal kernels (KernelMinimal only);
	// DefaultKernelCacheDir when empty. Shared by every image cache.
	KernelCacheDir string
	// KernelSource is the kernel source tarball (KernelMinimal only);
	// DefaultKernelSource when empty.
	KernelSource string
	// KernelJobs is make's -j for the minimal kernel; the number of CPUs
	// when zero.
	KernelJobs int
	// AgentPath is the static agent binary, installed as /init. Required.
	AgentPath string
	// BusyboxPath is a static busybox; DefaultBusyboxPath when empty.
	BusyboxPath string
	// Modules are the kernel modules to load in the guest; their
	// dependencies are added. '-' and '_' are equivalent. DefaultModules()
	// when empty.
	Modules []string
	// Log receives progress; nothing is logged when nil.
	Log logrus.FieldLogger
	// Force rebuilds even when an image with the same key exists.
	Force bool
	// ForceKernel also rebuilds the minimal kernel (minutes), not just the
	// image around it.
	ForceKernel bool
}

// withDefaults returns a copy with empty fields filled in and module names
// normalised, sorted and de-duplicated, so that the build key and the load
// order do not depend on how the caller spelled or ordered them.
func (o Options) withDefaults() Options {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir
	}
	if o.BusyboxPath == "" {
		o.BusyboxPath = DefaultBusyboxPath
	}
	if o.Kernel == "" {
		o.Kernel = KernelDebian
	}
	if o.KernelCacheDir == "" {
		o.KernelCacheDir = DefaultKernelCacheDir
	}
	if o.KernelSource == "" {
		o.KernelSource = DefaultKernelSource
	}
	if o.KernelJobs <= 0 {
		o.KernelJobs = runtime.NumCPU()
	}
	if len(o.Modules) == 0 {
		o.Modules = DefaultModules()
	}
	mods := make([]string, 0, len(o.Modules))
	for _, m := range o.Modules {
		mods = append(mods, normalizeModule(strings.TrimSpace(m)))
	}
	slices.Sort(mods)
	o.Modules = slices.Compact(mods)
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	return o
}

// Validate reports every problem with the options (after defaults are
// applied), joined and wrapped in ErrInvalidOptions. It only stats files;
// their content is checked by Build.
func (o *Options) Validate() error {
	d := o.withDefaults()
	var errs []error
	if o.AgentPath == "" {
		errs = append(errs, errors.New("agent path is required"))
	} else {
		errs = append(errs, checkRegularFile("agent", d.AgentPath))
	}
	errs = append(errs, checkRegularFile("busybox", d.BusyboxPath))
	switch d.Kernel {
	case KernelDebian:
		if d.KernelDeb != "" {
			errs = append(errs, checkRegularFile("kernel package", d.KernelDeb))
		}
	case KernelMinimal:
		if d.KernelDeb != "" {
			errs = append(errs, fmt.Errorf("a kernel package (%s) is only used by the %q kernel, not %q", d.KernelDeb, KernelDebian, KernelMinimal))
		}
		if err := checkRegularFile("kernel source", d.KernelSource); err != nil {
			if d.KernelSource == DefaultKernelSource {
				err = fmt.Errorf("%w; install it with `apt-get install %s` (scripts/setup-host.sh does)", err, minimalSourcePackage)
			}
			errs = append(errs, err)
		}
		if _, err := filepath.Abs(d.KernelCacheDir); err != nil {
			errs = append(errs, fmt.Errorf("kernel cache dir %q: %w", d.KernelCacheDir, err))
		}
	default:
		errs = append(errs, fmt.Errorf("kernel %q: want one of %v", d.Kernel, KernelFlavors()))
	}
	if _, err := filepath.Abs(d.CacheDir); err != nil {
		errs = append(errs, fmt.Errorf("cache dir %q: %w", d.CacheDir, err))
	}
	for _, m := range d.Modules {
		if !validModuleName(m) {
			errs = append(errs, fmt.Errorf("module name %q: only letters, digits, '-' and '_' are allowed", m))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return nil
}

func checkRegularFile(what, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s: not a regular file", what, path)
	}
	return nil
}

// normalizeModule maps a module name to the form the kernel uses
// internally (KBUILD_MODNAME): '-' becomes '_'.
func normalizeModule(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}

// validModuleName reports whether name (already normalised) is a plausible
// module name; it also keeps names safe to use as file names.
func validModuleName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
