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

// buildFixture is a cache dir plus the inputs of a synthetic build.
type buildFixture struct {
	dir     string
	opts    Options
	spec    debSpec
	runner  *fakeRunner
	applets []string
}

func newBuildFixture(t *testing.T, edit func(*debSpec)) *buildFixture {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "inputs")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := defaultDebSpec(t)
	if edit != nil {
		edit(&spec)
	}
	return &buildFixture{
		dir:  dir,
		spec: spec,
		opts: Options{
			CacheDir:    filepath.Join(dir, "cache"),
			KernelDeb:   makeDeb(t, in, spec),
			AgentPath:   writeFile(t, in, "agent", []byte("#!/bin/sh\necho agent v1\n")),
			BusyboxPath: writeFile(t, in, "busybox", makeStaticBinary(t, "busybox")),
		},
		runner:  &fakeRunner{t: t, applets: "busybox\n[\ninit\ninsmod\nls\nmount\nsh\n"},
		applets: []string{"[", "insmod", "ls", "mount", "sh"},
	}
}

func (f *buildFixture) build(t *testing.T) *Image {
	t.Helper()
	img, err := buildWith(context.Background(), t, f.opts, f.runner)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return img
}

// defaultLoadOrder is what the default modules resolve to against
// defaultDebSpec: sorted visit, dependencies first.
var defaultLoadOrder = []string{
	"9pnet", "netfs", "fscache", "9p", "virtio_ring", "virtio", "9pnet_virtio", "virtio_blk", "virtio_console",
	"failover", "net_failover", "virtio_net", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_rng",
}

func TestBuild(t *testing.T) {
	f := newBuildFixture(t, nil)
	img := f.build(t)

	if img.Cached {
		t.Error("first build reported Cached")
	}
	cache, _ := filepath.Abs(f.opts.CacheDir)
	if filepath.Dir(img.Dir) != cache || len(filepath.Base(img.Dir)) != imageIDLen {
		t.Errorf("image dir = %s, want <cache>/<16 hex>", img.Dir)
	}
	if !img.PVH || img.Kernel != filepath.Join(img.Dir, fileVmlinux) || img.BzImage != filepath.Join(img.Dir, fileBzImage) {
		t.Errorf("PVH %v (%s), Kernel %s, BzImage %s", img.PVH, img.Manifest.PVHReason, img.Kernel, img.BzImage)
	}
	if img.KernelRelease != testRelease || img.KernelFlavor != KernelDebian {
		t.Errorf("release = %q", img.KernelRelease)
	}

	m := img.Manifest
	if m.BuilderVersion != builderVersion || !strings.HasPrefix(m.Key, filepath.Base(img.Dir)) {
		t.Errorf("manifest version %q key %q", m.BuilderVersion, m.Key)
	}
	if m.Kernel != (KernelInfo{Flavor: KernelDebian, Package: "linux-image-" + testRelease, Version: f.spec.version, Architecture: "amd64", Release: testRelease}) {
		t.Errorf("manifest kernel = %+v", m.Kernel)
	}
	for name, in := range map[string]InputFile{"deb": m.Inputs.KernelDeb, "agent": m.Inputs.Agent, "busybox": m.Inputs.Busybox} {
		if len(in.SHA256) != 64 || in.Size == 0 || !filepath.IsAbs(in.Path) {
			t.Errorf("manifest input %s = %+v", name, in)
		}
	}
	if !slices.Equal(m.Modules.LoadOrder, defaultLoadOrder) {
		t.Errorf("load order = %v\nwant         %v", m.Modules.LoadOrder, defaultLoadOrder)
	}
	if !slices.Equal(m.Modules.Wanted, (Options{}).withDefaults().Modules) || m.Modules.Builtin == nil {
		t.Errorf("modules = %+v", m.Modules)
	}
	if !m.PVH || m.PVHEntry != "0x1000000" || m.PayloadCompression != compGzip || m.Applets != len(f.applets) || m.BuiltAt.IsZero() {
		t.Errorf("manifest = %+v", m)
	}
	for _, name := range []string{fileBzImage, fileVmlinux, fileInitramfs, fileConfig} {
		fi, err := os.Stat(filepath.Join(img.Dir, name))
		if err != nil || fi.Size() != m.Files[name] {
			t.Errorf("%s: %v, size vs manifest %d", name, err, m.Files[name])
		}
	}

	entries := readInitramfs(t, img.Initramfs)
	if e := entries["init"]; string(e.body) != "#!/bin/sh\necho agent v1\n" || e.mode.Perm() != 0o755 {
		t.Errorf("/init = %q mode %v", e.body, e.mode)
	}
	for _, a := range f.applets {
		if entries["bin/"+a].link != "busybox" {
			t.Errorf("bin/%s is not a link to busybox", a)
		}
	}
	for _, reserved := range []string{"bin/init", "bin/linuxrc"} {
		if _, ok := entries[reserved]; ok {
			t.Errorf("%s must not exist", reserved)
		}
	}
	wantOrder := strings.Join(defaultLoadOrder, ".ko\n") + ".ko\n"
	if got := string(entries[initramfsLoadOrder].body); got != wantOrder {
		t.Errorf("load-order = %q", got)
	}
	for _, mod := range defaultLoadOrder {
		if _, ok := entries["modules/"+mod+".ko"]; !ok {
			t.Errorf("modules/%s.ko missing", mod)
		}
	}
	if _, ok := entries["modules/virtio_balloon.ko"]; ok {
		t.Error("unwanted module virtio_balloon included")
	}

	assertCurrent(t, f.opts.CacheDir, img.Dir)
	assertNoLeftovers(t, f.opts.CacheDir)
	assertWorldReadable(t, f.opts.CacheDir)
}

func TestBuildPVHFallback(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*debSpec)
		wantReason string
	}{
		{
			name: "CONFIG_PVH not set",
			edit: func(s *debSpec) {
				s.config = strings.ReplaceAll(s.config, "CONFIG_PVH=y", "# CONFIG_PVH is not set")
			},
			wantReason: "CONFIG_PVH",
		},
		{
			name: "zstd payload",
			edit: func(s *debSpec) {
				s.bzImage = makeBzImage(t, 27, 0x3d8, kernelPayload(t, compZstd, makeVmlinux(t, true)))
			},
			wantReason: "zstd",
		},
		{
			name: "no PVH note",
			edit: func(s *debSpec) {
				s.bzImage = makeBzImage(t, 27, 0x3d8, kernelPayload(t, compXZ, makeVmlinux(t, false)))
			},
			wantReason: "PHYS32_ENTRY",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newBuildFixture(t, tt.edit)
			img := f.build(t)
			if img.PVH || img.Kernel != img.BzImage || !strings.Contains(img.Manifest.PVHReason, tt.wantReason) {
				t.Errorf("PVH %v Kernel %s reason %q; want bzImage because %s", img.PVH, img.Kernel, img.Manifest.PVHReason, tt.wantReason)
			}
			if _, err := os.Stat(filepath.Join(img.Dir, fileVmlinux)); !errors.Is(err, fs.ErrNotExist) {
				t.Error("vmlinux kept for a non-PVH kernel")
			}
			if _, ok := img.Manifest.Files[fileVmlinux]; ok {
				t.Error("manifest lists vmlinux")
			}
			if again := f.build(t); !again.Cached {
				t.Error("non-PVH image not reused")
			}
		})
	}
}

func TestBuildBuiltinModule(t *testing.T) {
	f := newBuildFixture(t, func(s *debSpec) {
		delete(s.modules, "drivers/char/hw_random/virtio-rng.ko")
		s.builtin = append(s.builtin, "kernel/drivers/char/hw_random/virtio-rng.ko")
	})
	img := f.build(t)
	if !slices.Equal(img.Manifest.Modules.Builtin, []string{"virtio_rng"}) || slices.Contains(img.Manifest.Modules.LoadOrder, "virtio_rng") {
		t.Errorf("modules = %+v", img.Manifest.Modules)
	}
}

func TestBuildBadInputs(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(t *testing.T, f *buildFixture)
		wantErr error
		mention string
		// touchesCache: the failure happens after the cache dir is set up.
		touchesCache bool
	}{
		{
			name:    "missing agent",
			edit:    func(t *testing.T, f *buildFixture) { f.opts.AgentPath += ".missing" },
			wantErr: ErrInvalidOptions, mention: "agent",
		},
		{
			name:    "missing kernel package",
			edit:    func(t *testing.T, f *buildFixture) { f.opts.KernelDeb += ".missing" },
			wantErr: ErrInvalidOptions, mention: "kernel package",
		},
		{
			name: "dynamic busybox",
			edit: func(t *testing.T, f *buildFixture) {
				os.WriteFile(f.opts.BusyboxPath, makeDynamicBinary(t), 0o755)
			},
			wantErr: ErrNotStatic, mention: "apt-get install busybox-static",
		},
		{
			name: "dynamic agent",
			edit: func(t *testing.T, f *buildFixture) {
				os.WriteFile(f.opts.AgentPath, makeDynamicBinary(t), 0o755)
			},
			wantErr: ErrNotStatic, mention: "agent",
		},
		{
			name:    "unknown module",
			edit:    func(t *testing.T, f *buildFixture) { f.opts.Modules = []string{"virtio_net", "no-such-driver"} },
			wantErr: ErrModuleNotFound, mention: "no_such_driver", touchesCache: true,
		},
		{
			name: "not a deb",
			edit: func(t *testing.T, f *buildFixture) {
				os.WriteFile(f.opts.KernelDeb, []byte("just text"), 0o644)
			},
			wantErr: ErrBadKernelPackage, mention: "not an ar archive", touchesCache: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newBuildFixture(t, nil)
			tt.edit(t, f)
			img, err := buildWith(context.Background(), t, f.opts, f.runner)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("Build = %v, %v; want %v mentioning %q", img, err, tt.wantErr, tt.mention)
			}
			if !tt.touchesCache {
				if _, err := os.Stat(f.opts.CacheDir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("cache dir created by a build that could not start")
				}
				return
			}
			assertNoImages(t, f.opts.CacheDir)
		})
	}
}

func TestBuildCancelled(t *testing.T) {
	f := newBuildFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := buildWith(ctx, t, f.opts, f.runner); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	assertNoImages(t, f.opts.CacheDir)
}

func TestBuildDownloadsKernel(t *testing.T) {
	f := newBuildFixture(t, nil)
	deb := f.opts.KernelDeb
	f.opts.KernelDeb = ""
	pkg, ver := "linux-image-"+testRelease, f.spec.version
	f.runner.handlers = map[string]func(string, []string) ([]byte, error){
		"apt-cache depends": func(string, []string) ([]byte, error) { return []byte("  Depends: " + pkg + "\n"), nil },
		"apt-cache show": func(string, []string) ([]byte, error) {
			return []byte("Version: " + ver + "\nArchitecture: amd64\n"), nil
		},
		"apt-get download": func(dir string, _ []string) ([]byte, error) {
			data, err := os.ReadFile(deb)
			if err != nil {
				return nil, err
			}
			return nil, os.WriteFile(filepath.Join(dir, debFileName(pkg, ver, "amd64")), data, 0o644)
		},
	}
	img := f.build(t)
	if want := filepath.Join(img.Dir, "..", cacheDebs, debFileName(pkg, ver, "amd64")); img.Manifest.Inputs.KernelDeb.Path != filepath.Clean(want) {
		t.Errorf("deb path = %s, want %s", img.Manifest.Inputs.KernelDeb.Path, want)
	}
	if again := f.build(t); !again.Cached {
		t.Error("second build with the downloaded deb not cached")
	}
	downloads := 0
	for _, c := range f.runner.calls {
		if strings.HasPrefix(c, "apt-get download") {
			downloads++
		}
	}
	if downloads != 1 {
		t.Errorf("apt-get download ran %d times, want 1", downloads)
	}
}
