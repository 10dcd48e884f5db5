package guestimage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Image is a built guest image. All paths are absolute.
type Image struct {
	Dir string
	// Kernel is the file to boot: vmlinux when PVH, else bzImage.
	Kernel        string
	BzImage       string
	Initramfs     string
	Config        string
	PVH           bool
	KernelRelease string
	KernelFlavor  KernelFlavor
	// Cached is true when Build found the image instead of building it.
	Cached   bool
	Manifest Manifest
}

// Load returns the image <cacheDir>/current points at (DefaultCacheDir when
// cacheDir is empty). Without a usable one the error wraps ErrNoImage.
func Load(cacheDir string) (*Image, error) {
	if cacheDir == "" {
		cacheDir = DefaultCacheDir
	}
	c, err := newCacheLayout(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoImage, err)
	}
	name, err := os.Readlink(c.current())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: run `vmctl image build`", ErrNoImage, c.root)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrNoImage, c.current(), err)
	}
	if name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("%w: %s points outside the cache (%q): run `vmctl image build`", ErrNoImage, c.current(), name)
	}
	img, err := openImage(filepath.Join(c.root, name), "")
	if err != nil {
		return nil, fmt.Errorf("%w: %w: run `vmctl image build`", ErrNoImage, err)
	}
	return img, nil
}

// openImage reads and checks dir's manifest: when key is not empty it must
// match, the builder version must be ours, and every listed file must exist
// with its recorded size. Sizes, not hashes: this runs on every cached Build
// and Load, and hashing a 66 MB vmlinux each time is not worth it.
func openImage(dir, key string) (*Image, error) {
	data, err := os.ReadFile(filepath.Join(dir, fileManifest))
	if err != nil {
		return nil, fmt.Errorf("read image manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, fileManifest), err)
	}
	if m.BuilderVersion != builderVersion {
		return nil, fmt.Errorf("image %s was built by builder version %q, want %q", dir, m.BuilderVersion, builderVersion)
	}
	if key != "" && m.Key != key {
		return nil, fmt.Errorf("image %s has key %s, want %s", dir, m.Key, key)
	}
	required := []string{fileBzImage, fileInitramfs, fileConfig}
	if m.PVH {
		required = append(required, fileVmlinux)
	}
	for _, f := range required {
		if _, ok := m.Files[f]; !ok {
			return nil, fmt.Errorf("image %s: manifest lists no %s", dir, f)
		}
	}
	for name, size := range m.Files {
		if name != filepath.Base(name) {
			return nil, fmt.Errorf("image %s: bad file name %q in manifest", dir, name)
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", dir, err)
		}
		if fi.Size() != size {
			return nil, fmt.Errorf("image %s: %s is %d bytes, manifest says %d", dir, name, fi.Size(), size)
		}
	}
	img := &Image{
		Dir:           dir,
		BzImage:       filepath.Join(dir, fileBzImage),
		Initramfs:     filepath.Join(dir, fileInitramfs),
		Config:        filepath.Join(dir, fileConfig),
		PVH:           m.PVH,
		KernelRelease: m.Kernel.Release,
		KernelFlavor:  m.Kernel.Flavor,
		Manifest:      m,
	}
	if img.KernelFlavor == "" {
		img.KernelFlavor = KernelDebian
	}
	img.Kernel = img.BzImage
	if m.PVH {
		img.Kernel = filepath.Join(dir, fileVmlinux)
	}
	return img, nil
}
