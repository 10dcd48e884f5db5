package hypervisor

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// DefaultQEMUUser is the account libvirt runs QEMU as on Debian and Ubuntu.
const DefaultQEMUUser = "libvirt-qemu"

// CheckQEMUCanRead reports, before anything is created, a share directory
// the unprivileged QEMU process could not open: QEMU's own error arrives
// only after the domain was defined and names no fix. A host without that
// account (another distribution's user name) is not checked.
func CheckQEMUCanRead(dir, qemuUser string) error {
	u, err := user.Lookup(qemuUser)
	if err != nil {
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gids := map[int]bool{}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			n, _ := strconv.Atoi(g)
			gids[n] = true
		}
	}
	gid, _ := strconv.Atoi(u.Gid)
	gids[gid] = true

	allowed := func(fi os.FileInfo, need os.FileMode) bool {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return true
		}
		mode := fi.Mode().Perm()
		switch {
		case int(st.Uid) == uid:
			return mode&(need<<6) == need<<6
		case gids[int(st.Gid)]:
			return mode&(need<<3) == need<<3
		}
		return mode&need == need
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("%w: share %s: %v", ErrInvalidSpec, abs, err)
	}
	if !allowed(fi, 0o5) {
		return fmt.Errorf("%w: share %s is not readable by %s, the user QEMU runs as; fix with: chmod o+rx %s", ErrInvalidSpec, abs, qemuUser, abs)
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%w: share %s: %v", ErrInvalidSpec, abs, err)
		}
		if !allowed(fi, 0o1) {
			return fmt.Errorf("%w: share %s: %s (mode %04o) cannot be entered by %s, the user QEMU runs as; fix with: chmod o+x %s",
				ErrInvalidSpec, abs, p, fi.Mode().Perm(), qemuUser, p)
		}
		if p == "/" {
			return nil
		}
	}
}
