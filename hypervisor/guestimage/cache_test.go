package guestimage

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestBuildCache(t *testing.T) {
	f := newBuildFixture(t, nil)
	first := f.build(t)

	second := f.build(t)
	if !second.Cached || second.Dir != first.Dir {
		t.Fatalf("second build: Cached %v dir %s, want cached %s", second.Cached, second.Dir, first.Dir)
	}
	if second.Manifest.BuiltAt != first.Manifest.BuiltAt {
		t.Error("cached image was rebuilt")
	}

	// Module order and spelling do not change the key.
	f.opts.Modules = slices.Clone((Options{}).withDefaults().Modules)
	slices.Reverse(f.opts.Modules)
	f.opts.Modules[0] = strings.ReplaceAll(f.opts.Modules[0], "_", "-")
	if img := f.build(t); !img.Cached {
		t.Error("reordered module list caused a rebuild")
	}
	f.opts.Modules = nil

	// A different agent is a different image; current follows it.
	if err := os.WriteFile(f.opts.AgentPath, []byte("#!/bin/sh\necho agent v2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	third := f.build(t)
	if third.Cached || third.Dir == first.Dir {
		t.Fatalf("changed agent: Cached %v dir %s", third.Cached, third.Dir)
	}
	if third.Manifest.Inputs.Agent.SHA256 == first.Manifest.Inputs.Agent.SHA256 {
		t.Error("agent hash unchanged")
	}
	if got := string(readInitramfs(t, third.Initramfs)["init"].body); got != "#!/bin/sh\necho agent v2\n" {
		t.Errorf("/init = %q", got)
	}
	assertCurrent(t, f.opts.CacheDir, third.Dir)

	// Back to the first agent: found in the cache, current points back.
	os.WriteFile(f.opts.AgentPath, []byte("#!/bin/sh\necho agent v1\n"), 0o755)
	if img := f.build(t); !img.Cached || img.Dir != first.Dir {
		t.Errorf("reverted agent: Cached %v dir %s", img.Cached, img.Dir)
	}
	assertCurrent(t, f.opts.CacheDir, first.Dir)

	// Fewer modules: another key.
	f.opts.Modules = []string{"virtio_console"}
	img := f.build(t)
	if img.Cached || !slices.Equal(img.Manifest.Modules.LoadOrder, []string{"virtio_ring", "virtio", "virtio_console"}) {
		t.Errorf("module change: Cached %v order %v", img.Cached, img.Manifest.Modules.LoadOrder)
	}
	assertNoLeftovers(t, f.opts.CacheDir)
}

func TestBuildForceAndRepair(t *testing.T) {
	f := newBuildFixture(t, nil)
	first := f.build(t)

	f.opts.Force = true
	forced := f.build(t)
	if forced.Cached || forced.Dir != first.Dir || !forced.Manifest.BuiltAt.After(first.Manifest.BuiltAt) {
		t.Errorf("Force: Cached %v dir %s", forced.Cached, forced.Dir)
	}
	f.opts.Force = false

	// A damaged image is rebuilt in place rather than returned.
	if err := os.Remove(filepath.Join(first.Dir, fileVmlinux)); err != nil {
		t.Fatal(err)
	}
	repaired := f.build(t)
	if repaired.Cached || repaired.Dir != first.Dir {
		t.Errorf("damaged image: Cached %v dir %s", repaired.Cached, repaired.Dir)
	}
	if _, err := os.Stat(repaired.Kernel); err != nil {
		t.Error(err)
	}
	assertNoLeftovers(t, f.opts.CacheDir)
}

func TestBuildConcurrent(t *testing.T) {
	f := newBuildFixture(t, nil)
	const n = 4
	imgs := make([]*Image, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			imgs[i], errs[i] = buildWith(context.Background(), t, f.opts, f.runner)
		})
	}
	wg.Wait()
	built := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("builder %d: %v", i, errs[i])
		}
		if imgs[i].Dir != imgs[0].Dir {
			t.Errorf("builder %d got %s, builder 0 %s", i, imgs[i].Dir, imgs[0].Dir)
		}
		if !imgs[i].Cached {
			built++
		}
	}
	if built != 1 {
		t.Errorf("%d builders built the image, want exactly 1 (others wait and reuse it)", built)
	}
	if _, err := Load(f.opts.CacheDir); err != nil {
		t.Error(err)
	}
	assertNoLeftovers(t, f.opts.CacheDir)
}

func TestBuildIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	f := newBuildFixture(t, nil)
	f.opts.CacheDir = filepath.Join(f.dir, "var", "lib", "images")
	f.build(t)
	assertWorldReadable(t, filepath.Join(f.dir, "var"))
}

func TestBuildRemovesLeftovers(t *testing.T) {
	f := newBuildFixture(t, nil)
	crashed := filepath.Join(f.opts.CacheDir, buildDirPrefix+"123", "image")
	if err := os.MkdirAll(crashed, 0o755); err != nil {
		t.Fatal(err)
	}
	f.build(t)
	assertNoLeftovers(t, f.opts.CacheDir)
}

func TestLoad(t *testing.T) {
	t.Run("empty cache", func(t *testing.T) {
		_, err := Load(t.TempDir())
		if !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), "vmctl image build") {
			t.Fatalf("err = %v, want ErrNoImage with the fix", err)
		}
	})
	t.Run("missing cache dir", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, ErrNoImage) {
			t.Fatalf("err = %v, want ErrNoImage", err)
		}
	})

	f := newBuildFixture(t, nil)
	built := f.build(t)
	t.Run("current image", func(t *testing.T) {
		img, err := Load(f.opts.CacheDir)
		if err != nil {
			t.Fatal(err)
		}
		if img.Dir != built.Dir || img.Kernel != built.Kernel || img.Initramfs != built.Initramfs || !img.PVH || img.Cached {
			t.Errorf("Load = %+v\nBuild = %+v", img, built)
		}
	})
	t.Run("damaged image", func(t *testing.T) {
		os.Truncate(filepath.Join(built.Dir, fileInitramfs), 10)
		_, err := Load(f.opts.CacheDir)
		if !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), fileInitramfs) {
			t.Fatalf("err = %v, want ErrNoImage naming the file", err)
		}
	})
	t.Run("current pointing outside", func(t *testing.T) {
		cur := filepath.Join(f.opts.CacheDir, cacheCurrent)
		os.Remove(cur)
		os.Symlink("../../etc", cur)
		if _, err := Load(f.opts.CacheDir); !errors.Is(err, ErrNoImage) {
			t.Fatalf("err = %v, want ErrNoImage", err)
		}
	})
}

func assertCurrent(t *testing.T, cacheDir, wantDir string) {
	t.Helper()
	target, err := os.Readlink(filepath.Join(cacheDir, cacheCurrent))
	if err != nil || target != filepath.Base(wantDir) {
		t.Errorf("current -> %q (%v), want %q", target, err, filepath.Base(wantDir))
	}
}

// assertNoLeftovers checks that only images, debs, current and the lock
// remain in the cache dir.
func assertNoLeftovers(t *testing.T, cacheDir string) {
	t.Helper()
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case name == cacheCurrent, name == cacheLock, name == cacheDebs:
		case len(name) == imageIDLen && e.IsDir():
		default:
			t.Errorf("leftover in cache dir: %s", name)
		}
	}
}

// assertNoImages checks that a failed build left no image, no current and
// no build directory.
func assertNoImages(t *testing.T, cacheDir string) {
	t.Helper()
	entries, _ := os.ReadDir(cacheDir)
	for _, e := range entries {
		if e.Name() != cacheLock && e.Name() != cacheDebs {
			t.Errorf("failed build left %s in the cache dir", e.Name())
		}
	}
}

func assertWorldReadable(t *testing.T, cacheDir string) {
	t.Helper()
	err := filepath.WalkDir(cacheDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
		case fi.IsDir() && fi.Mode().Perm() != dirMode:
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), dirMode)
		case fi.Mode().IsRegular() && fi.Mode().Perm() != fileMode:
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), fileMode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
