package guestimage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// builderVersion is part of the build key: bump it whenever the image
// layout or content changes for the same inputs, so old images are rebuilt.
// 2: the initramfs is uncompressed (initramfs.cpio, was initramfs.cpio.gz).
const builderVersion = "2"

// Manifest is manifest.json: what an image was built from and what it holds.
type Manifest struct {
	BuilderVersion string `json:"builderVersion"`
	// Key is the full build key; the image directory is its first 16 hex.
	Key    string     `json:"key"`
	Kernel KernelInfo `json:"kernel"`
	// KernelBuild names the minimal kernel the image was assembled from;
	// nil for Debian's kernel.
	KernelBuild *KernelBuildRef `json:"kernelBuild,omitempty"`
	Inputs      Inputs          `json:"inputs"`
	Modules     ModuleSummary   `json:"modules"`
	// Applets is the number of busybox applet links in /bin.
	Applets int  `json:"applets"`
	PVH     bool `json:"pvh"`
	// PVHReason says why PVH is false.
	PVHReason string `json:"pvhReason,omitempty"`
	// PVHEntry is the address in the Xen PHYS32_ENTRY note.
	PVHEntry string `json:"pvhEntry,omitempty"`
	// PayloadCompression is how the kernel is compressed inside bzImage.
	PayloadCompression string `json:"payloadCompression,omitempty"`
	// Files maps each file in the image directory (except the manifest)
	// to its size in bytes.
	Files        map[string]int64 `json:"files"`
	BuiltAt      time.Time        `json:"builtAt"`
	BuildSeconds float64          `json:"buildSeconds"`
}

// KernelInfo identifies the kernel package and release. For the minimal
// kernel, Package and Version are those of the source package (empty when
// built from another tarball).
type KernelInfo struct {
	// Flavor is empty in manifests written before flavors existed: those
	// are KernelDebian.
	Flavor       KernelFlavor `json:"flavor,omitempty"`
	Package      string       `json:"package"`
	Version      string       `json:"version"`
	Architecture string       `json:"architecture"`
	Release      string       `json:"release"`
}

// KernelBuildRef points at a built minimal kernel in the kernel cache.
type KernelBuildRef struct {
	Key    string           `json:"key"`
	Dir    string           `json:"dir"`
	Source KernelSourceInfo `json:"source"`
}

// Inputs are the files an image was built from.
type Inputs struct {
	// KernelDeb is empty for the minimal kernel.
	KernelDeb InputFile `json:"kernelDeb,omitzero"`
	Agent     InputFile `json:"agent"`
	Busybox   InputFile `json:"busybox"`
}

// InputFile is one input, by path and content.
type InputFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ModuleSummary records how the wanted modules were resolved.
type ModuleSummary struct {
	Wanted    []string `json:"wanted"`
	Builtin   []string `json:"builtin"`
	LoadOrder []string `json:"loadOrder"`
}

// writeManifest writes dir/manifest.json.
func writeManifest(dir string, m Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := writeNewFile(filepath.Join(dir, fileManifest), bytes.NewReader(append(data, '\n'))); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// fileSizes lists the regular files of dir with their sizes.
func fileSizes(dir string) (map[string]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	sizes := map[string]int64{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		sizes[e.Name()] = fi.Size()
	}
	return sizes, nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
