package guestimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// runFunc runs a command in dir ("" for the current one) and returns its
// stdout. A field of builder so tests can stand in for apt and busybox.
type runFunc func(ctx context.Context, dir, name string, args ...string) ([]byte, error)

// builder carries one Build's options and collaborators.
type builder struct {
	opts  Options
	log   logrus.FieldLogger
	cache cacheLayout
	run   runFunc
	now   func() time.Time
	// fragment is the minimal kernel's config fragment: minimalFragment,
	// or a test's.
	fragment []byte
}

// Build returns the image for opts' inputs, building it unless the cache
// already has one with the same key (then Image.Cached is true), and points
// <CacheDir>/current at it. Inputs are checked before the cache directory
// is touched, so bad options leave nothing behind.
func Build(ctx context.Context, opts Options) (*Image, error) {
	b, err := newBuilder(opts)
	if err != nil {
		return nil, err
	}
	return b.build(ctx)
}

func newBuilder(opts Options) (*builder, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	cache, err := newCacheLayout(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	b := &builder{opts: opts, log: opts.Log, cache: cache, now: time.Now, fragment: minimalFragment}
	b.run = b.execRun
	return b, nil
}

// maxErrorOutput bounds the stderr an error carries: a failed kernel
// compile can print pages of warnings before the error, which comes last.
const maxErrorOutput = 4 << 10

// lastBytes returns the end of s, at most n bytes, marking a cut.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// execRun runs a real command. stderr goes to the error, or to the debug
// log on success (apt prints warnings there).
func (b *builder) execRun(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	// Cancelling kills the whole process group: make's compilers too, not
	// just make, so nothing keeps writing into a build dir being removed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	msg := strings.TrimSpace(stderr.String())
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, lastBytes(msg, maxErrorOutput))
	}
	if msg != "" {
		b.log.WithField("command", name+" "+strings.Join(args, " ")).Debug(msg)
	}
	return out, nil
}

func (b *builder) build(ctx context.Context) (*Image, error) {
	start := b.now()
	in, err := b.readInputs(ctx)
	if err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	// The minimal kernel is built (minutes, once) under the kernel cache's
	// own lock, before this cache is locked: other image builds need not
	// wait for it.
	var k kernelRef
	if b.opts.Kernel == KernelMinimal {
		if k.build, err = b.minimalKernel(ctx); err != nil {
			return nil, fmt.Errorf("build guest image: %w", err)
		}
	}
	if err := b.cache.create(b.log); err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	unlock, err := b.cache.lock(ctx, b.log)
	if err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	defer unlock()
	b.cache.removeLeftovers(b.log)

	if k.build == nil {
		debPath := b.opts.KernelDeb
		if debPath == "" {
			if debPath, err = b.fetchKernelDeb(ctx, b.cache.debs()); err != nil {
				return nil, fmt.Errorf("build guest image: %w", err)
			}
		}
		if k.deb, err = hashFile(ctx, debPath); err != nil {
			return nil, fmt.Errorf("build guest image: hash kernel package: %w", err)
		}
	}
	key := buildKey(k.id(), in.agent.SHA256, in.busybox.SHA256, b.opts.Modules)
	dir := b.cache.imageDir(key)
	log := b.log.WithField("image", dir)

	if !b.opts.Force {
		img, err := openImage(dir, key)
		if err == nil {
			if err := b.cache.pointCurrent(dir); err != nil {
				return nil, fmt.Errorf("build guest image: %w", err)
			}
			img.Cached = true
			log.Info("guest image is up to date")
			return img, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			log.WithError(err).Warn("cached guest image is unusable; rebuilding")
		}
	}

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	buildDir, err := os.MkdirTemp(b.cache.root, buildDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	defer os.RemoveAll(buildDir)
	staged := filepath.Join(buildDir, "image")
	m, err := b.assemble(ctx, in, k, key, staged, filepath.Join(buildDir, "scratch"))
	if err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	end := b.now()
	m.BuiltAt = end.UTC()
	m.BuildSeconds = end.Sub(start).Seconds()
	if err := writeManifest(staged, m); err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	if err := makePublic(staged); err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	// Without this, a power cut soon after the rename could leave a
	// published image whose files are empty.
	if err := syncDir(staged); err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	if err := publish(staged, dir); err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	if err := b.cache.pointCurrent(dir); err != nil {
		return nil, fmt.Errorf("build guest image: %w", err)
	}
	img, err := openImage(dir, key)
	if err != nil {
		return nil, fmt.Errorf("build guest image: reopen: %w", err)
	}
	log.WithFields(logrus.Fields{"kernel": m.Kernel.Flavor, "pvh": m.PVH, "modules": len(m.Modules.LoadOrder), "seconds": m.BuildSeconds}).Info("built guest image")
	return img, nil
}

// kernelRef is the kernel an image is assembled from: a Debian package or
// a built minimal kernel.
type kernelRef struct {
	deb   InputFile
	build *KernelBuild
}

// id is the kernel's line in the image build key. Debian's is unchanged
// from before flavors existed, so existing images keep their keys.
func (k kernelRef) id() string {
	if k.build != nil {
		return "kernel " + string(KernelMinimal) + " " + k.build.Key
	}
	return "deb " + k.deb.SHA256
}

// kernelParts is what the kernel contributes to an image: its files are
// already in the staging directory.
type kernelParts struct {
	info  KernelInfo
	mods  []moduleBlob // in load order
	plan  loadPlan
	pvh   pvhResult
	build *KernelBuildRef
}

// assemble fills staged with the image files and returns the manifest
// (without build times); scratch holds temporary files.
func (b *builder) assemble(ctx context.Context, in inputs, k kernelRef, key, staged, scratch string) (Manifest, error) {
	for _, d := range []string{staged, scratch} {
		if err := os.Mkdir(d, dirMode); err != nil {
			return Manifest{}, err
		}
	}
	var (
		kp  kernelParts
		err error
	)
	if k.build != nil {
		kp, err = b.stageMinimalKernel(ctx, k.build, staged)
	} else {
		kp, err = b.stageDebianKernel(ctx, k.deb, staged, scratch)
	}
	if err != nil {
		return Manifest{}, err
	}
	if err := ctx.Err(); err != nil {
		return Manifest{}, err
	}

	var buf bytes.Buffer
	if err := writeInitramfs(&buf, initramfsContent{Agent: in.agent.data, Busybox: in.busybox.data, Applets: in.applets, Modules: kp.mods}); err != nil {
		return Manifest{}, err
	}
	if err := writeNewFile(filepath.Join(staged, fileInitramfs), &buf); err != nil {
		return Manifest{}, fmt.Errorf("write initramfs: %w", err)
	}

	m := Manifest{
		BuilderVersion:     builderVersion,
		Key:                key,
		Kernel:             kp.info,
		KernelBuild:        kp.build,
		Inputs:             Inputs{KernelDeb: k.deb, Agent: in.agent.InputFile, Busybox: in.busybox.InputFile},
		Modules:            ModuleSummary{Wanted: b.opts.Modules, Builtin: nonNil(kp.plan.Builtin), LoadOrder: nonNil(kp.plan.Order)},
		Applets:            len(in.applets),
		PVH:                kp.pvh.ok,
		PVHReason:          kp.pvh.reason,
		PayloadCompression: kp.pvh.compression,
	}
	if kp.pvh.ok {
		m.PVHEntry = fmt.Sprintf("%#x", kp.pvh.entry)
	}
	if m.Files, err = fileSizes(staged); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// stageDebianKernel reads the kernel package into staged (bzImage, config,
// and vmlinux when it boots via PVH) and returns the wanted modules, in
// load order, with their dependencies.
func (b *builder) stageDebianKernel(ctx context.Context, deb InputFile, staged, scratch string) (kernelParts, error) {
	b.log.WithField("deb", deb.Path).Info("reading kernel package")
	t0 := b.now()
	pkg, err := scanKernelDeb(ctx, deb.Path, staged, scratch, b.log)
	if err != nil {
		return kernelParts{}, err
	}
	defer pkg.Close()
	b.log.WithFields(logrus.Fields{"release": pkg.Release, "modules": len(pkg.Modules), "seconds": b.now().Sub(t0).Seconds()}).Debug("read kernel package")
	if pkg.SHA256 != deb.SHA256 {
		return kernelParts{}, fmt.Errorf("kernel package %s changed while it was being read", deb.Path)
	}
	if src, _ := kernelConfig(pkg.Config, "CONFIG_INITRAMFS_SOURCE"); src != "" {
		b.log.WithField("source", src).Warn("kernel has a custom built-in initramfs: /dev/console may be missing in the guest")
	}

	plan, err := resolveLoadOrder(b.opts.Modules, pkg.moduleInfos(), pkg.Builtin)
	if err != nil {
		return kernelParts{}, fmt.Errorf("kernel %s: %w", pkg.Release, err)
	}
	mods := make([]moduleBlob, 0, len(plan.Order))
	for _, name := range plan.Order {
		data, err := pkg.moduleData(name)
		if err != nil {
			return kernelParts{}, err
		}
		mods = append(mods, moduleBlob{Name: name, Data: data})
	}
	if err := ctx.Err(); err != nil {
		return kernelParts{}, err
	}
	pvh, err := b.preparePVH(ctx, pkg, staged)
	if err != nil {
		return kernelParts{}, err
	}
	return kernelParts{
		info: KernelInfo{
			Flavor:       KernelDebian,
			Package:      pkg.Control.Package,
			Version:      pkg.Control.Version,
			Architecture: pkg.Control.Architecture,
			Release:      pkg.Release,
		},
		mods: mods,
		plan: plan,
		pvh:  pvh,
	}, nil
}
