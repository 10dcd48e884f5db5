package guestimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/sirupsen/logrus"
)

var imageDirName = regexp.MustCompile(`^[0-9a-f]{16}$`)

// Prune removes cached images other than the current one and those in keep
// (image directories that VMs still boot from). Each image is ~75 MB, and a
// new one appears whenever the agent or kernel changes. It returns the
// removed directories.
func Prune(ctx context.Context, cacheDir string, keep []string, log logrus.FieldLogger) ([]string, error) {
	if log == nil {
		log = logrus.New()
	}
	c, err := newCacheLayout(cacheDir)
	if err != nil {
		return nil, err
	}
	unlock, err := c.lock(ctx, log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	keepSet := map[string]bool{}
	if cur, err := os.Readlink(c.current()); err == nil {
		keepSet[filepath.Base(cur)] = true
	}
	for _, k := range keep {
		keepSet[filepath.Base(filepath.Clean(k))] = true
	}
	entries, err := os.ReadDir(c.root)
	if err != nil {
		return nil, fmt.Errorf("prune images: %w", err)
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || !imageDirName.MatchString(e.Name()) || keepSet[e.Name()] {
			continue
		}
		dir := filepath.Join(c.root, e.Name())
		if err := os.RemoveAll(dir); err != nil {
			return removed, fmt.Errorf("prune image %s: %w", dir, err)
		}
		removed = append(removed, dir)
	}
	return removed, nil
}
