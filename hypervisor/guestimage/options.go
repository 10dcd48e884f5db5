package guestimage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
)

const (
	// DefaultCacheDir is where images are kept when Options.CacheDir is empty.
	DefaultCacheDir = "/var/lib/vmctl/images"
	// DefaultBusyboxPath is where Debian's busybox-static puts its binary.
	DefaultBusyboxPath = "/bin/busybox"
)

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
	// KernelDeb is a linux-image-*.deb to take the kernel from. When empty,
	// the package linux-image-amd64 currently depends on is fetched with
	// apt-get download into <CacheDir>/debs (and reused from there).
	KernelDeb string
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
	if d.KernelDeb != "" {
		errs = append(errs, checkRegularFile("kernel package", d.KernelDeb))
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
