package reap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/vmctl/vmctl/hypervisor"
)

// Remove removes each finding and returns them with Removed or Error set.
// A domain goes through its host's hypervisor.Manager.Remove, which also
// removes its state directory and scratch disk; a finding already gone
// counts as removed. What could not be removed is named in the returned
// error, a *hypervisor.LeftBehind (errors.Is hypervisor.ErrLeftBehind).
func (r *Reaper) Remove(ctx context.Context, findings []Finding) ([]Finding, error) {
	out := make([]Finding, len(findings))
	var left []hypervisor.Leftover
	for i, f := range findings {
		err := r.remove(ctx, f)
		f.Removed, f.Error = err == nil, ""
		if err != nil {
			f.Error = err.Error()
			left = append(left, hypervisor.NewLeftover(string(f.Kind), f.Host, f.Name, f.Path, fix(f), err))
		}
		out[i] = f
	}
	return out, hypervisor.JoinLeftovers(left)
}

func fix(f Finding) string {
	switch f.Kind {
	case KindDomain:
		return hypervisor.VMFix(f.Host, f.Name, true)
	case KindClaim:
		return "`vmctl gc --yes` again once the claims directory is writable"
	}
	return "remove " + f.Path + " by hand"
}

func (r *Reaper) remove(ctx context.Context, f Finding) error {
	switch f.Kind {
	case KindDomain:
		return r.removeDomain(ctx, f)
	case KindStateDir:
		if err := os.RemoveAll(f.Path); err != nil {
			return fmt.Errorf("remove state directory: %w", err)
		}
		return nil
	case KindScratch:
		return removeFile(f.Path)
	case KindSocket:
		if err := removeFile(f.Path); err != nil {
			return err
		}
		// libvirt's per-domain directory goes when nothing else is in it.
		err := os.Remove(filepath.Dir(f.Path))
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("remove socket directory: %w", err)
		}
		return nil
	case KindClaim:
		if r.cfg.Claims == nil {
			return errors.New("no claim store")
		}
		return r.cfg.Claims.RemoveStale(ctx, f.Path)
	}
	return fmt.Errorf("unknown kind %q", f.Kind)
}

// removeDomain removes an orphan domain on its host. The owner is checked
// again first: a finding is a snapshot, and only a dead owner's VM goes.
func (r *Reaper) removeDomain(ctx context.Context, f Finding) error {
	m := r.cfg.Fleet.Member(f.Host)
	if m == nil || m.Manager == nil {
		return fmt.Errorf("host %s is not open", f.Host)
	}
	info, err := m.Manager.Show(ctx, f.Name)
	if errors.Is(err, hypervisor.ErrNotFound) {
		return nil
	}
	if err != nil {
		return hypervisor.Foreign(err, f.Host, f.Name)
	}
	if o := info.Meta.Owner; o == nil {
		return fmt.Errorf("vm %s has no owner now: it is not garbage", f.Name)
	} else if alive, why := r.alive(*o); alive {
		return fmt.Errorf("vm %s is not garbage: %s", f.Name, why)
	}
	if err := m.Manager.Remove(ctx, f.Name); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		return err
	}
	// A state directory recorded elsewhere than this gc's --state-dir
	// (another vmctl's) goes too; only a directory named for the VM.
	if sd := filepath.Clean(info.Meta.StateDir); filepath.IsAbs(sd) && filepath.Base(sd) == f.Name && sd != filepath.Clean(m.Manager.StateDir(f.Name)) {
		if err := os.RemoveAll(sd); err != nil {
			return fmt.Errorf("remove state directory: %w", err)
		}
	}
	return nil
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
