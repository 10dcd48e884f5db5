package guestimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Names inside the cache directory.
const (
	cacheCurrent      = "current"
	cacheLock         = ".lock"
	cacheDebs         = "debs"
	buildDirPrefix    = ".build-"
	downloadDirPrefix = ".download-"
	imageIDLen        = 16
)

// lockPollInterval is how often a waiting builder retries the lock.
const lockPollInterval = 200 * time.Millisecond

// cacheLayout names the paths of one cache directory.
type cacheLayout struct{ root string }

func newCacheLayout(dir string) (cacheLayout, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return cacheLayout{}, fmt.Errorf("resolve cache dir: %w", err)
	}
	return cacheLayout{root: abs}, nil
}

func (c cacheLayout) current() string            { return filepath.Join(c.root, cacheCurrent) }
func (c cacheLayout) lockFile() string           { return filepath.Join(c.root, cacheLock) }
func (c cacheLayout) debs() string               { return filepath.Join(c.root, cacheDebs) }
func (c cacheLayout) imageDir(key string) string { return filepath.Join(c.root, key[:imageIDLen]) }

// create makes the cache directory and warns when QEMU (running as
// libvirt-qemu) could not reach it because an ancestor is not searchable by
// others; Build cannot fix an ancestor it does not own.
func (c cacheLayout) create(log logrus.FieldLogger) error {
	// Directories we create get dirMode despite the umask; the cache dir
	// itself always, as it is ours.
	missing := []string{c.root}
	for dir := filepath.Dir(c.root); dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		missing = append(missing, dir)
	}
	if err := os.MkdirAll(c.root, dirMode); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	for _, dir := range missing {
		if err := os.Chmod(dir, dirMode); err != nil {
			return fmt.Errorf("create cache dir: %w", err)
		}
	}
	for dir := filepath.Dir(c.root); ; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
			log.WithField("dir", dir).Warn("cache dir ancestor is not searchable by others: QEMU (libvirt-qemu) will not be able to read the images")
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

// lock takes the cache's exclusive flock. It polls instead of blocking in
// flock(2) so that ctx can end the wait. The lock dies with the process, so
// a crashed builder never leaves the cache locked.
func (c cacheLayout) lock(ctx context.Context, log logrus.FieldLogger) (unlock func(), err error) {
	f, err := os.OpenFile(c.lockFile(), os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("open cache lock: %w", err)
	}
	f.Chmod(fileMode) // best effort: only for tidiness under a strict umask
	try := func() (bool, error) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return err == nil, err
	}
	ok, err := try()
	if !ok && err == nil {
		log.WithField("lock", c.lockFile()).Info("waiting for another image build to finish")
		ticker := time.NewTicker(lockPollInterval)
		defer ticker.Stop()
		for !ok && err == nil {
			select {
			case <-ctx.Done():
				f.Close()
				return nil, fmt.Errorf("wait for cache lock: %w", ctx.Err())
			case <-ticker.C:
				ok, err = try()
			}
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock cache: %w", err)
	}
	return func() { f.Close() }, nil // closing the descriptor releases the flock
}

// removeLeftovers deletes build and download directories left by builders
// that died; only called with the lock held, so none of them is live.
func (c cacheLayout) removeLeftovers(log logrus.FieldLogger) {
	for _, pattern := range []string{
		filepath.Join(c.root, buildDirPrefix+"*"),
		filepath.Join(c.debs(), downloadDirPrefix+"*"),
	} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			log.WithField("dir", m).Info("removing leftover of an interrupted build")
			if err := os.RemoveAll(m); err != nil {
				log.WithError(err).WithField("dir", m).Warn("cannot remove leftover build dir")
			}
		}
	}
}

// publish moves a finished image directory to dst. rename(2) cannot replace
// a non-empty directory, so an existing image (Force, or a stale one) is
// swapped out atomically with RENAME_EXCHANGE; staged then holds the old
// image, which the caller removes with the rest of the build dir.
func publish(staged, dst string) error {
	err := os.Rename(staged, dst)
	if err == nil {
		return syncPath(filepath.Dir(dst))
	}
	if _, serr := os.Lstat(dst); serr != nil {
		return fmt.Errorf("publish image: %w", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, staged, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE); err == nil {
		return syncPath(filepath.Dir(dst))
	}
	// Filesystems without RENAME_EXCHANGE: move the old one aside first.
	// A reader may briefly miss dst; it never sees a partial image.
	old := staged + ".old"
	if err := os.Rename(dst, old); err != nil {
		return fmt.Errorf("publish image: move old image aside: %w", err)
	}
	if err := os.Rename(staged, dst); err != nil {
		return fmt.Errorf("publish image: %w", err)
	}
	return syncPath(filepath.Dir(dst))
}

// pointCurrent makes <root>/current a symlink to the image dir name,
// replacing any previous link atomically by renaming a new one over it.
func (c cacheLayout) pointCurrent(imageDir string) error {
	name := filepath.Base(imageDir)
	tmp := filepath.Join(c.root, buildDirPrefix+"current-"+strings.ToLower(name))
	os.Remove(tmp)
	if err := os.Symlink(name, tmp); err != nil {
		return fmt.Errorf("point current at %s: %w", name, err)
	}
	if err := os.Rename(tmp, c.current()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("point current at %s: %w", name, err)
	}
	return nil
}
