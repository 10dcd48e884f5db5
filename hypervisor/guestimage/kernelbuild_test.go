package guestimage

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeKernelTree stands in for tar and make: it writes what each step of
// the recipe leaves in the source tree, so the driver runs without a real
// compile.
type fakeKernelTree struct {
	t *testing.T
	// drop lists symbols Kconfig "refuses" in allnoconfig, as it does
	// when a dependency is missing.
	drop []string
	// builtin is modules.builtin as the compile writes it.
	builtin []string
	// failCompile makes the compile step fail.
	failCompile bool
	// dirs records the tree each step ran in.
	dirs []string
}

func (k *fakeKernelTree) handlers() map[string]func(string, []string) ([]byte, error) {
	t := k.t
	return map[string]func(string, []string) ([]byte, error){
		"tar -xf": func(dir string, args []string) ([]byte, error) {
			k.dirs = append(k.dirs, dir)
			if i := slices.Index(args, "-C"); i < 0 || args[i+1] != dir {
				t.Errorf("tar %v: want -C %s", args, dir)
			}
			return nil, os.WriteFile(filepath.Join(dir, "Makefile"), []byte("# fake kernel tree\n"), 0o644)
		},
		"make -s ARCH=x86_64 tinyconfig": func(dir string, _ []string) ([]byte, error) {
			k.dirs = append(k.dirs, dir)
			base := "#\n# tinyconfig\n#\nCONFIG_64BIT=y\nCONFIG_SLOB=y\n# CONFIG_SLUB is not set\n# CONFIG_PVH is not set\n"
			return nil, os.WriteFile(filepath.Join(dir, ".config"), []byte(base), 0o644)
		},
		"make -s ARCH=x86_64 KCONFIG_ALLCONFIG=": func(dir string, args []string) ([]byte, error) {
			k.dirs = append(k.dirs, dir)
			if args[len(args)-1] != "allnoconfig" {
				t.Errorf("make %v: want allnoconfig", args)
			}
			merged, err := os.ReadFile(strings.TrimPrefix(args[2], "KCONFIG_ALLCONFIG="))
			if err != nil {
				return nil, err
			}
			var out []string
			for _, line := range strings.Split(string(merged), "\n") {
				if sym, _, ok := kconfigLine(line); ok && slices.Contains(k.drop, sym) {
					continue
				}
				out = append(out, line)
			}
			return nil, os.WriteFile(filepath.Join(dir, ".config"), []byte(strings.Join(out, "\n")), 0o644)
		},
		"make -s ARCH=x86_64 -j": func(dir string, args []string) ([]byte, error) {
			k.dirs = append(k.dirs, dir)
			if args[len(args)-1] != "bzImage" || !slices.Contains(args, "-j2") {
				t.Errorf("make %v: want -j2 ... bzImage", args)
			}
			if k.failCompile {
				return nil, errors.New("exit status 2: drivers/foo.c:1: error: bar")
			}
			files := map[string][]byte{
				"vmlinux":                            makeVmlinux(t, true),
				"arch/x86/boot/bzImage":              []byte("fake bzImage"),
				"modules.builtin":                    []byte(strings.Join(k.builtin, "\n") + "\n"),
				"include/config/kernel.release":      []byte("6.1.99\n"),
				"arch/x86/boot/compressed/vmlinux.o": []byte("junk the cache must not keep"),
			}
			for name, data := range files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return nil, err
				}
				if err := os.WriteFile(p, data, 0o644); err != nil {
					return nil, err
				}
			}
			return nil, nil
		},
	}
}

// builtinPaths is modules.builtin for the default modules and their
// dependencies, as a kernel with them all built in lists them.
func builtinPaths() []string {
	return []string{
		"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio_pci.ko",
		"kernel/drivers/char/virtio_console.ko", "kernel/drivers/block/virtio_blk.ko", "kernel/drivers/net/virtio_net.ko",
		"kernel/drivers/char/hw_random/virtio-rng.ko", "kernel/fs/9p/9p.ko", "kernel/net/9p/9pnet.ko", "kernel/net/9p/9pnet_virtio.ko",
	}
}

// newMinimalFixture is a build fixture for the minimal kernel, its source
// a file of no importance (the fake tar never reads it).
func newMinimalFixture(t *testing.T) (*buildFixture, *fakeKernelTree) {
	t.Helper()
	f := newBuildFixture(t, nil)
	f.opts.Kernel = KernelMinimal
	f.opts.KernelDeb = ""
	f.opts.KernelCacheDir = filepath.Join(f.dir, "kernels")
	f.opts.KernelSource = writeFile(t, filepath.Join(f.dir, "inputs"), "linux.tar.xz", []byte("not really xz"))
	f.opts.KernelJobs = 2
	tree := &fakeKernelTree{t: t, builtin: builtinPaths()}
	f.runner.handlers = tree.handlers()
	return f, tree
}

func (f *buildFixture) countCalls(prefix string) int {
	n := 0
	for _, c := range f.runner.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func TestBuildMinimal(t *testing.T) {
	f, tree := newMinimalFixture(t)
	img := f.build(t)

	wantCalls := []string{"tar -xf", "make -s ARCH=x86_64 tinyconfig", "make -s ARCH=x86_64 KCONFIG_ALLCONFIG=", "make -s ARCH=x86_64 -j2"}
	var got []string
	for _, c := range f.runner.calls {
		if !strings.HasSuffix(c, " --list") {
			got = append(got, c)
		}
	}
	if len(got) != len(wantCalls) {
		t.Fatalf("commands = %q, want the recipe %q", got, wantCalls)
	}
	for i, p := range wantCalls {
		if !strings.HasPrefix(got[i], p) {
			t.Errorf("command %d = %q, want %q...", i, got[i], p)
		}
	}
	for _, d := range tree.dirs {
		if d != tree.dirs[0] || !strings.HasPrefix(d, f.opts.KernelCacheDir+"/"+buildDirPrefix) {
			t.Errorf("recipe ran in %v, want one tree under the kernel cache's %s*", tree.dirs, buildDirPrefix)
			break
		}
	}

	m := img.Manifest
	if img.KernelFlavor != KernelMinimal || m.Kernel.Flavor != KernelMinimal || m.Kernel.Release != "6.1.99" || img.KernelRelease != "6.1.99" {
		t.Errorf("kernel = %+v, image flavor %q", m.Kernel, img.KernelFlavor)
	}
	if !img.PVH || img.Kernel != filepath.Join(img.Dir, fileVmlinux) || m.PVHEntry != "0x1000000" {
		t.Errorf("PVH %v kernel %s entry %s", img.PVH, img.Kernel, m.PVHEntry)
	}
	if m.KernelBuild == nil || m.KernelBuild.Source.SHA256 == "" || m.Inputs.KernelDeb != (InputFile{}) {
		t.Fatalf("kernel build ref %+v, deb input %+v", m.KernelBuild, m.Inputs.KernelDeb)
	}
	kb, err := openKernelBuild(m.KernelBuild.Dir, m.KernelBuild.Key)
	if err != nil {
		t.Fatalf("kernel cache: %v", err)
	}
	if filepath.Dir(kb.Dir) != f.opts.KernelCacheDir || kb.Release != "6.1.99" || kb.FragmentSHA256 != sha256Hex(minimalFragment) || kb.Jobs != 2 {
		t.Errorf("kernel build = %+v", kb)
	}
	entries, _ := os.ReadDir(kb.Dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{fileBzImage, fileConfig, fileKernelManifest, fileModulesBuiltin, fileVmlinux}; !slices.Equal(names, want) {
		t.Errorf("kernel dir holds %v, want %v", names, want)
	}
	// The image's config is the resolved one, fragment merged in.
	cfg, _ := os.ReadFile(filepath.Join(img.Dir, fileConfig))
	if v, _ := kernelConfig(cfg, "CONFIG_PVH"); v != "y" {
		t.Errorf("image config has CONFIG_PVH=%q", v)
	}
	if v, _ := kernelConfig(cfg, "CONFIG_SLOB"); v != "y" {
		t.Errorf("tinyconfig's own settings lost from the config: CONFIG_SLOB=%q", v)
	}

	// No modules to load: every wanted one is built in.
	if len(m.Modules.LoadOrder) != 0 || !slices.Equal(m.Modules.Builtin, (Options{}).withDefaults().Modules) {
		t.Errorf("modules = %+v", m.Modules)
	}
	initrd := readInitramfs(t, img.Initramfs)
	if e, ok := initrd[initramfsLoadOrder]; !ok || len(e.body) != 0 {
		t.Errorf("load-order = %q (present %v), want empty", e.body, ok)
	}
	for name := range initrd {
		if strings.HasSuffix(name, ".ko") {
			t.Errorf("initramfs holds module %s", name)
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(f.opts.KernelCacheDir, buildDirPrefix+"*")); len(matches) > 0 {
		t.Errorf("kernel build tree left behind: %v", matches)
	}
	assertCurrent(t, f.opts.CacheDir, img.Dir)

	// Second build: kernel and image both cached, nothing compiled.
	again := f.build(t)
	if !again.Cached || again.Dir != img.Dir {
		t.Errorf("second build: Cached %v dir %s, want %s", again.Cached, again.Dir, img.Dir)
	}
	if n := f.countCalls("make"); n != 3 {
		t.Errorf("make ran %d times over two builds, want 3 (one build)", n)
	}

	// A new image (another agent) reuses the built kernel.
	os.WriteFile(f.opts.AgentPath, []byte("#!/bin/sh\necho agent v2\n"), 0o755)
	third := f.build(t)
	if third.Cached || third.Dir == img.Dir || third.Manifest.KernelBuild.Key != m.KernelBuild.Key {
		t.Errorf("new agent: Cached %v dir %s kernel %s", third.Cached, third.Dir, third.Manifest.KernelBuild.Key)
	}
	if n := f.countCalls("tar"); n != 1 {
		t.Errorf("kernel rebuilt for a new agent: tar ran %d times", n)
	}

	// ForceKernel rebuilds the kernel, and the same key comes out.
	f.opts.ForceKernel = true
	forced := f.build(t)
	if n := f.countCalls("tar"); n != 2 || forced.Manifest.KernelBuild.Key != m.KernelBuild.Key {
		t.Errorf("ForceKernel: tar ran %d times, key %s", n, forced.Manifest.KernelBuild.Key)
	}
}

// The kernel key, and so the image key, follow the fragment: editing
// kernel/minimal.config rebuilds the kernel and makes a new image.
func TestBuildMinimalKeyFollowsFragment(t *testing.T) {
	f, _ := newMinimalFixture(t)
	build := func(fragment []byte) *Image {
		t.Helper()
		opts := f.opts
		opts.Log = testLogger(t)
		b, err := newBuilder(opts)
		if err != nil {
			t.Fatal(err)
		}
		b.run, b.fragment = f.runner.run, fragment
		img, err := b.build(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	first := build(minimalFragment)
	edited := append(slices.Clone(minimalFragment), []byte("CONFIG_IKCONFIG=y\n")...)
	second := build(edited)
	if first.Manifest.KernelBuild.Key == second.Manifest.KernelBuild.Key || first.Dir == second.Dir || second.Cached {
		t.Errorf("edited fragment: kernel %s -> %s, image %s -> %s (cached %v)",
			first.Manifest.KernelBuild.Key, second.Manifest.KernelBuild.Key, first.Dir, second.Dir, second.Cached)
	}
	if n := f.countCalls("tar"); n != 2 {
		t.Errorf("tar ran %d times, want 2 (one kernel per fragment)", n)
	}
	if back := build(minimalFragment); !back.Cached || back.Dir != first.Dir {
		t.Errorf("original fragment: cached %v dir %s, want %s", back.Cached, back.Dir, first.Dir)
	}
}

func TestMinimalKernelKey(t *testing.T) {
	pkg := KernelSourceInfo{Path: DefaultKernelSource, Package: minimalSourcePackage, Version: "6.1.192-3"}
	base := minimalKernelKey(pkg, minimalFragment)
	if len(base) != 64 || base != minimalKernelKey(pkg, slices.Clone(minimalFragment)) {
		t.Fatalf("key %q is not a stable sha256", base)
	}
	newer := pkg
	newer.Version = "6.1.193-1"
	moved := pkg
	moved.Path = "/elsewhere/linux.tar.xz"
	for name, key := range map[string]string{
		"fragment":       minimalKernelKey(pkg, append(slices.Clone(minimalFragment), '\n')),
		"source version": minimalKernelKey(newer, minimalFragment),
		"source tarball": minimalKernelKey(KernelSourceInfo{Path: "/x.tar.xz", SHA256: strings.Repeat("a", 64)}, minimalFragment),
	} {
		if key == base {
			t.Errorf("changing the %s left the key unchanged", name)
		}
	}
	// Where the package's tarball sits is not part of what is built.
	if minimalKernelKey(moved, minimalFragment) != base {
		t.Error("source path changed the key")
	}
}

// A Debian image's key is computed as it was before kernel flavors: only
// builderVersion decides when Debian images are rebuilt.
func TestDebianBuildKeyUnchanged(t *testing.T) {
	deb, agent, bb := strings.Repeat("1", 64), strings.Repeat("2", 64), strings.Repeat("3", 64)
	mods := DefaultModules()
	// The formula before flavors existed.
	h := sha256Hex([]byte("vmctl guestimage\nbuilder " + builderVersion + "\ndeb " + deb + "\nagent " + agent + "\nbusybox " + bb + "\nmodules " + strings.Join(mods, ",") + "\n"))
	if got := buildKey(kernelRef{deb: InputFile{SHA256: deb}}.id(), agent, bb, mods); got != h {
		t.Errorf("debian key = %s, want %s", got, h)
	}
	minimal := buildKey(kernelRef{build: &KernelBuild{Key: deb}}.id(), agent, bb, mods)
	if minimal == h {
		t.Error("minimal kernel with the same hash shares the debian key")
	}
}

func TestKernelSourceInfo(t *testing.T) {
	t.Run("the package's tarball is known by the package version", func(t *testing.T) {
		fake := &fakeRunner{t: t, handlers: map[string]func(string, []string) ([]byte, error){
			"dpkg-query --show --showformat=${Version} linux-source-6.1": func(string, []string) ([]byte, error) { return []byte("6.1.192-3"), nil },
		}}
		b := testBuilder(t, Options{KernelSource: DefaultKernelSource}, fake)
		got, err := b.kernelSourceInfo(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := (KernelSourceInfo{Path: DefaultKernelSource, Package: minimalSourcePackage, Version: "6.1.192-3"}); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("any other tarball by its content", func(t *testing.T) {
		src := writeFile(t, t.TempDir(), "linux.tar.xz", []byte("abc"))
		b := testBuilder(t, Options{KernelSource: src}, &fakeRunner{t: t})
		got, err := b.kernelSourceInfo(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got.SHA256 != sha256Hex([]byte("abc")) || got.Package != "" || got.Path != src {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("package not installed", func(t *testing.T) {
		fake := &fakeRunner{t: t, handlers: map[string]func(string, []string) ([]byte, error){
			"dpkg-query": func(string, []string) ([]byte, error) { return nil, errors.New("no packages found") },
		}}
		b := testBuilder(t, Options{KernelSource: DefaultKernelSource}, fake)
		if _, err := b.kernelSourceInfo(context.Background()); err == nil || !strings.Contains(err.Error(), minimalSourcePackage) {
			t.Errorf("err = %v, want one naming %s", err, minimalSourcePackage)
		}
	})
}

func TestBuildMinimalFailures(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(f *buildFixture, k *fakeKernelTree)
		wantErr error
		mention []string
	}{
		{
			name:    "options that do not stick are named",
			edit:    func(_ *buildFixture, k *fakeKernelTree) { k.drop = []string{"CONFIG_9P_FS", "CONFIG_PVH"} },
			wantErr: ErrKernelConfig,
			mention: []string{"CONFIG_PVH=y (got n)", "CONFIG_9P_FS=y (got n)"},
		},
		{
			name:    "compile error",
			edit:    func(_ *buildFixture, k *fakeKernelTree) { k.failCompile = true },
			mention: []string{"compile", "drivers/foo.c:1: error: bar"},
		},
		{
			name: "wanted module not built in",
			edit: func(_ *buildFixture, k *fakeKernelTree) {
				k.builtin = slices.DeleteFunc(k.builtin, func(p string) bool { return strings.HasSuffix(p, "/virtio_pci.ko") })
			},
			wantErr: ErrModuleNotFound,
			mention: []string{"virtio_pci"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, k := newMinimalFixture(t)
			tt.edit(f, k)
			img, err := buildWith(context.Background(), t, f.opts, f.runner)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("Build = %v, %v; want %v", img, err, tt.wantErr)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			assertNoImages(t, f.opts.CacheDir)
			if matches, _ := filepath.Glob(filepath.Join(f.opts.KernelCacheDir, buildDirPrefix+"*")); len(matches) > 0 {
				t.Errorf("kernel build tree left behind: %v", matches)
			}
		})
	}
}

func TestValidateKernelOptions(t *testing.T) {
	dir := t.TempDir()
	agent := writeFile(t, dir, "agent", makeStaticBinary(t, "agent"))
	bb := writeFile(t, dir, "busybox", makeStaticBinary(t, "busybox"))
	deb := writeFile(t, dir, "k.deb", []byte("deb"))
	src := writeFile(t, dir, "linux.tar.xz", []byte("src"))
	tests := []struct {
		name    string
		opts    Options
		mention string
	}{
		{name: "minimal ok", opts: Options{Kernel: KernelMinimal, KernelSource: src}},
		{name: "debian is the default", opts: Options{KernelDeb: deb}},
		{name: "unknown flavor", opts: Options{Kernel: "tiny"}, mention: `kernel "tiny"`},
		{name: "deb with minimal", opts: Options{Kernel: KernelMinimal, KernelSource: src, KernelDeb: deb}, mention: "only used by"},
		{name: "missing source", opts: Options{Kernel: KernelMinimal, KernelSource: dir + "/nope.tar.xz"}, mention: "kernel source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.AgentPath, tt.opts.BusyboxPath = agent, bb
			err := tt.opts.Validate()
			if tt.mention == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("Validate = %v, want ErrInvalidOptions mentioning %q", err, tt.mention)
			}
		})
	}
	// The fix for a missing default source is named.
	o := Options{Kernel: KernelMinimal, AgentPath: agent, BusyboxPath: bb}
	if _, err := os.Stat(DefaultKernelSource); errors.Is(err, fs.ErrNotExist) {
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "apt-get install "+minimalSourcePackage) {
			t.Errorf("Validate without the source package = %v", err)
		}
	}
}

func TestLastBytes(t *testing.T) {
	if got := lastBytes("short", 10); got != "short" {
		t.Errorf("got %q", got)
	}
	long := strings.Repeat("w", 100) + "error: here"
	if got := lastBytes(long, 11); got != "...error: here" {
		t.Errorf("got %q, want the end of the output", got)
	}
}
