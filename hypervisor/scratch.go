package hypervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DefaultScratchDir holds VMs' scratch disks. Mode 0711: QEMU (another
// user) reaches a file it is handed by name but cannot list the others.
const DefaultScratchDir = "/var/lib/vmctl/scratch"

// MaxScratchMiB caps a scratch disk; it is sparse, but a guest can fill it.
const MaxScratchMiB = 64 << 10

func (m *Manager) scratchPath(name string) string {
	return filepath.Join(m.cfg.ScratchDir, name+".raw")
}

// makeScratch creates an empty sparse raw disk. O_EXCL: the file is this
// VM's alone, and never an existing file someone pointed us at.
func (m *Manager) makeScratch(path string, mib int) error {
	if err := os.MkdirAll(m.cfg.ScratchDir, 0o711); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	if err := os.Chmod(m.cfg.ScratchDir, 0o711); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: scratch disk %s exists (left by a crashed create? `vmctl vm rm` removes it)", ErrExists, path)
		}
		return fmt.Errorf("scratch disk: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(int64(mib) << 20); err != nil {
		os.Remove(path)
		return fmt.Errorf("scratch disk %s: %w", path, err)
	}
	return nil
}

func (m *Manager) removeScratch(path string) {
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.log.WithError(err).Warnf("remove scratch disk %s", path)
	}
}
