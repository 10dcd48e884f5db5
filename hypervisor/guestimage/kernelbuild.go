package guestimage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// minimalFragment is the config fragment of the minimal kernel: merged over
// tinyconfig, and every option in it checked in the final .config.
//
//go:embed kernel/minimal.config
var minimalFragment []byte

const (
	// minimalSourcePackage ships DefaultKernelSource.
	minimalSourcePackage = "linux-source-6.1"
	// kernelRecipeVersion is part of the kernel key: bump it whenever the
	// steps of buildMinimalKernel change what they produce.
	kernelRecipeVersion = "1"
	kernelArch          = "x86_64"
	kernelBaseConfig    = "tinyconfig"
	kernelMakeTarget    = "bzImage"

	fileKernelManifest = "kernel.json"
	fileModulesBuiltin = "modules.builtin"
)

// Files of a built kernel, as the kernel's own tree names them (relative
// to the source root) and as the kernel cache names them.
var kernelBuildOutputs = []struct{ tree, cache string }{
	{"vmlinux", fileVmlinux},
	{"arch/x86/boot/bzImage", fileBzImage},
	{".config", fileConfig},
	{"modules.builtin", fileModulesBuiltin},
}

// KernelSourceInfo identifies the source a minimal kernel was built from:
// by its Debian package version when it is DefaultKernelSource, else by
// the tarball's sha256.
type KernelSourceInfo struct {
	Path    string `json:"path"`
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
}

// KernelBuild is a built minimal kernel: <KernelCacheDir>/<id>/kernel.json.
type KernelBuild struct {
	// Key is the sha256 of the recipe version, the source and the config
	// fragment; the directory is its first 16 hex digits.
	Key            string           `json:"key"`
	Recipe         string           `json:"recipe"`
	Source         KernelSourceInfo `json:"source"`
	FragmentSHA256 string           `json:"fragmentSha256"`
	// Release is the kernel's `uname -r`.
	Release  string `json:"release"`
	PVHEntry string `json:"pvhEntry"`
	// Files maps each file of the directory (except kernel.json) to its
	// size in bytes.
	Files        map[string]int64 `json:"files"`
	Jobs         int              `json:"jobs"`
	BuiltAt      time.Time        `json:"builtAt"`
	BuildSeconds float64          `json:"buildSeconds"`
	// Dir is where the kernel is; not stored.
	Dir string `json:"-"`
	// Cached is true when the kernel was found, not built; not stored.
	Cached bool `json:"-"`
}

// minimalKernelKey identifies a minimal kernel by everything that decides
// its content.
func minimalKernelKey(src KernelSourceInfo, fragment []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "vmctl minimal kernel\nrecipe %s\narch %s\nbase %s\ntarget %s\nsource %s %s %s\nfragment %s\n",
		kernelRecipeVersion, kernelArch, kernelBaseConfig, kernelMakeTarget,
		src.Package, src.Version, src.SHA256, sha256Hex(fragment))
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// kernelSourceInfo identifies opts.KernelSource: the default tarball by the
// version of the package that installed it (asking dpkg is much cheaper
// than hashing 138 MB on every cached build), any other by its sha256.
func (b *builder) kernelSourceInfo(ctx context.Context) (KernelSourceInfo, error) {
	abs, err := filepath.Abs(b.opts.KernelSource)
	if err != nil {
		return KernelSourceInfo{}, err
	}
	if abs != DefaultKernelSource {
		in, err := hashFile(ctx, abs)
		if err != nil {
			return KernelSourceInfo{}, fmt.Errorf("hash kernel source: %w", err)
		}
		return KernelSourceInfo{Path: abs, SHA256: in.SHA256}, nil
	}
	out, err := b.run(ctx, "", "dpkg-query", "--show", "--showformat=${Version}", minimalSourcePackage)
	if err != nil {
		return KernelSourceInfo{}, fmt.Errorf("version of %s: %w", minimalSourcePackage, err)
	}
	version := strings.TrimSpace(string(out))
	if version == "" {
		return KernelSourceInfo{}, fmt.Errorf("version of %s: dpkg-query printed nothing", minimalSourcePackage)
	}
	return KernelSourceInfo{Path: abs, Package: minimalSourcePackage, Version: version}, nil
}

// minimalKernel returns the minimal kernel for the current source and
// fragment from <KernelCacheDir>, building it when it is not there (or
// ForceKernel is set). Builds serialise on the kernel cache's own lock, so
// a build never blocks image builds that do not need it.
func (b *builder) minimalKernel(ctx context.Context) (*KernelBuild, error) {
	frag, err := parseConfigFragment(b.fragment)
	if err != nil {
		return nil, fmt.Errorf("%w: kernel/minimal.config: %w", ErrKernelConfig, err)
	}
	src, err := b.kernelSourceInfo(ctx)
	if err != nil {
		return nil, err
	}
	key := minimalKernelKey(src, b.fragment)
	kc, err := newCacheLayout(b.opts.KernelCacheDir)
	if err != nil {
		return nil, err
	}
	dir := kc.imageDir(key)
	log := b.log.WithField("kernel", dir)
	lookup := func() (*KernelBuild, bool) {
		if b.opts.ForceKernel {
			return nil, false
		}
		kb, err := openKernelBuild(dir, key)
		if err == nil {
			kb.Cached = true
			log.Debug("minimal kernel is up to date")
			return kb, true
		}
		if !errors.Is(err, fs.ErrNotExist) {
			log.WithError(err).Warn("cached minimal kernel is unusable; rebuilding")
		}
		return nil, false
	}
	if kb, ok := lookup(); ok {
		return kb, nil
	}
	if err := kc.create(b.log); err != nil {
		return nil, err
	}
	unlock, err := kc.lock(ctx, b.log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another builder may have finished it while we waited for the lock.
	if kb, ok := lookup(); ok {
		return kb, nil
	}
	kc.removeLeftovers(b.log)
	return b.buildMinimalKernel(ctx, kc, src, frag, key, dir)
}

// buildMinimalKernel runs the recipe in a .build-* directory of the kernel
// cache and publishes the result as dir:
//
//	tar -xf SOURCE -C src --strip-components=1
//	make ARCH=x86_64 tinyconfig
//	(merge kernel/minimal.config over .config into allconfig)
//	make ARCH=x86_64 KCONFIG_ALLCONFIG=allconfig allnoconfig
//	(check every fragment option in .config)
//	make ARCH=x86_64 -jN bzImage      (also links vmlinux)
//	(check vmlinux's PVH note)
//
// allnoconfig, not olddefconfig, resolves the merge (as merge_config.sh -n
// does): olddefconfig would give every option the fragment makes visible
// its Kconfig default, which for INET alone means IPv6, tunnels and TCP
// diagnostics, and for PCI and TTY the PS/2 keyboard and mouse and five
// more 8250 drivers.
//
// The source tree (1.5 GB) is removed afterwards; only vmlinux, bzImage,
// .config and modules.builtin are kept.
func (b *builder) buildMinimalKernel(ctx context.Context, kc cacheLayout, src KernelSourceInfo, frag []kconfigOption, key, dir string) (*KernelBuild, error) {
	start := b.now()
	log := b.log.WithFields(logrus.Fields{"kernel": dir, "source": src.Path, "jobs": b.opts.KernelJobs})
	log.Info("building the minimal guest kernel: a few minutes on 2 cores, once per source and config")
	work, err := os.MkdirTemp(kc.root, buildDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("build minimal kernel: %w", err)
	}
	defer os.RemoveAll(work)
	tree := filepath.Join(work, "src")
	if err := os.Mkdir(tree, dirMode); err != nil {
		return nil, fmt.Errorf("build minimal kernel: %w", err)
	}
	step := func(what string, name string, args ...string) error {
		t0 := b.now()
		if _, err := b.run(ctx, tree, name, args...); err != nil {
			return fmt.Errorf("build minimal kernel: %s: %w", what, err)
		}
		log.WithField("seconds", b.now().Sub(t0).Seconds()).Debug(what)
		return nil
	}
	kmake := func(what string, args ...string) error {
		return step(what, "make", append([]string{"-s", "ARCH=" + kernelArch}, args...)...)
	}

	if err := step("extract source", "tar", "-xf", src.Path, "-C", tree, "--strip-components=1", "--no-same-owner"); err != nil {
		return nil, err
	}
	if err := kmake("configure "+kernelBaseConfig, kernelBaseConfig); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(tree, ".config")
	base, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("build minimal kernel: %s left no .config: %w", kernelBaseConfig, err)
	}
	allconfig := filepath.Join(work, "allconfig")
	if err := os.WriteFile(allconfig, mergeConfigFragment(base, frag), fileMode); err != nil {
		return nil, fmt.Errorf("build minimal kernel: %w", err)
	}
	if err := kmake("resolve configuration", "KCONFIG_ALLCONFIG="+allconfig, "allnoconfig"); err != nil {
		return nil, err
	}
	final, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("build minimal kernel: %w", err)
	}
	if bad := verifyConfig(final, frag); len(bad) > 0 {
		names := make([]string, len(bad))
		for i, m := range bad {
			names[i] = m.String()
		}
		return nil, fmt.Errorf("build minimal kernel: %w: options of kernel/minimal.config that did not stick (a dependency is missing or the symbol does not exist in this source): %s",
			ErrKernelConfig, strings.Join(names, ", "))
	}
	if err := kmake("compile", "-j"+strconv.Itoa(b.opts.KernelJobs),
		"KBUILD_BUILD_USER=vmctl", "KBUILD_BUILD_HOST=vmctl", kernelMakeTarget); err != nil {
		return nil, err
	}

	rel, err := os.ReadFile(filepath.Join(tree, "include", "config", "kernel.release"))
	if err != nil {
		return nil, fmt.Errorf("build minimal kernel: read kernel release: %w", err)
	}
	entry, err := vmlinuxPVHEntry(filepath.Join(tree, "vmlinux"))
	if err != nil {
		return nil, fmt.Errorf("build minimal kernel: vmlinux: %w", err)
	}
	staged := filepath.Join(work, "kernel")
	if err := os.Mkdir(staged, dirMode); err != nil {
		return nil, fmt.Errorf("build minimal kernel: %w", err)
	}
	for _, f := range kernelBuildOutputs {
		if err := copyFile(filepath.Join(tree, f.tree), filepath.Join(staged, f.cache)); err != nil {
			return nil, fmt.Errorf("build minimal kernel: %w", err)
		}
	}
	kb := KernelBuild{
		Key:            key,
		Recipe:         kernelRecipeVersion,
		Source:         src,
		FragmentSHA256: sha256Hex(b.fragment),
		Release:        strings.TrimSpace(string(rel)),
		PVHEntry:       fmt.Sprintf("%#x", entry),
		Jobs:           b.opts.KernelJobs,
	}
	if kb.Files, err = fileSizes(staged); err != nil {
		return nil, fmt.Errorf("build minimal kernel: %w", err)
	}
	end := b.now()
	kb.BuiltAt, kb.BuildSeconds = end.UTC(), end.Sub(start).Seconds()
	if err := writeJSONFile(filepath.Join(staged, fileKernelManifest), kb); err != nil {
		return nil, fmt.Errorf("build minimal kernel: %w", err)
	}
	if err := makePublic(staged); err != nil {
		return nil, fmt.Errorf("build minimal kernel: %w", err)
	}
	if err := syncDir(staged); err != nil {
		return nil, fmt.Errorf("build minimal kernel: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build minimal kernel: %w", err)
	}
	if err := publish(staged, dir); err != nil {
		return nil, fmt.Errorf("build minimal kernel: %w", err)
	}
	out, err := openKernelBuild(dir, key)
	if err != nil {
		return nil, fmt.Errorf("build minimal kernel: reopen: %w", err)
	}
	log.WithFields(logrus.Fields{"release": out.Release, "vmlinux": out.Files[fileVmlinux], "seconds": kb.BuildSeconds}).Info("built minimal guest kernel")
	return out, nil
}

// openKernelBuild reads and checks dir/kernel.json: the key and recipe must
// match and every listed file must exist with its recorded size.
func openKernelBuild(dir, key string) (*KernelBuild, error) {
	data, err := os.ReadFile(filepath.Join(dir, fileKernelManifest))
	if err != nil {
		return nil, fmt.Errorf("read kernel manifest: %w", err)
	}
	var kb KernelBuild
	if err := json.Unmarshal(data, &kb); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, fileKernelManifest), err)
	}
	if kb.Key != key || kb.Recipe != kernelRecipeVersion {
		return nil, fmt.Errorf("kernel %s has key %s recipe %q, want %s recipe %q", dir, kb.Key, kb.Recipe, key, kernelRecipeVersion)
	}
	for _, f := range kernelBuildOutputs {
		if _, ok := kb.Files[f.cache]; !ok {
			return nil, fmt.Errorf("kernel %s: manifest lists no %s", dir, f.cache)
		}
	}
	if err := checkFileSizes(dir, kb.Files); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", dir, err)
	}
	kb.Dir = dir
	return &kb, nil
}

// checkFileSizes checks that each named file of dir has its size.
func checkFileSizes(dir string, files map[string]int64) error {
	for name, size := range files {
		if name != filepath.Base(name) {
			return fmt.Errorf("bad file name %q in manifest", name)
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if fi.Size() != size {
			return fmt.Errorf("%s is %d bytes, manifest says %d", name, fi.Size(), size)
		}
	}
	return nil
}

// vmlinuxPVHEntry opens an ELF kernel and returns its PVH entry point.
func vmlinuxPVHEntry(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return pvhEntry(f)
}

// readModulesBuiltin reads a modules.builtin file into a set of module
// names.
func readModulesBuiltin(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			set[moduleNameFromPath(line)] = true
		}
	}
	return set, sc.Err()
}

// stageMinimalKernel links (or copies) the built kernel's files into staged and
// checks that every wanted module is built in: the minimal kernel loads
// none, so the initramfs gets an empty load order.
func (b *builder) stageMinimalKernel(ctx context.Context, kb *KernelBuild, staged string) (kernelParts, error) {
	for _, name := range []string{fileVmlinux, fileBzImage, fileConfig} {
		if err := linkOrCopy(filepath.Join(kb.Dir, name), filepath.Join(staged, name)); err != nil {
			return kernelParts{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return kernelParts{}, err
	}
	builtin, err := readModulesBuiltin(filepath.Join(kb.Dir, fileModulesBuiltin))
	if err != nil {
		return kernelParts{}, fmt.Errorf("minimal kernel: %w", err)
	}
	plan, err := resolveLoadOrder(b.opts.Modules, nil, builtin)
	if err != nil {
		return kernelParts{}, fmt.Errorf("minimal kernel %s: %w", kb.Release, err)
	}
	entry, err := vmlinuxPVHEntry(filepath.Join(staged, fileVmlinux))
	if err != nil {
		return kernelParts{}, fmt.Errorf("minimal kernel: %w", err)
	}
	return kernelParts{
		info: KernelInfo{
			Flavor:       KernelMinimal,
			Package:      kb.Source.Package,
			Version:      kb.Source.Version,
			Architecture: "amd64",
			Release:      kb.Release,
		},
		plan:  plan,
		pvh:   pvhResult{ok: true, entry: entry},
		build: &KernelBuildRef{Key: kb.Key, Dir: kb.Dir, Source: kb.Source},
	}, nil
}
