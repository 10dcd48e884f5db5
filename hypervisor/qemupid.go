package hypervisor

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// QEMURunDir is where libvirt's system QEMU driver keeps one "<domain>.pid"
// file per running domain. libvirt has no API for the emulator's PID, and
// this file is what libvirt itself reads back after a daemon restart.
const QEMURunDir = "/run/libvirt/qemu"

// QEMUPidDir returns the pid-file directory for a libvirt URI, or an error
// saying why the emulator processes cannot be seen from here: only
// qemu:///system on this machine has its pid files (and its QEMU processes'
// /proc entries) at a known local path.
func QEMUPidDir(uri string) (string, error) {
	if !IsLocalURI(uri) {
		return "", fmt.Errorf("%w: %s is a remote host: QEMU's pid files and /proc are only readable on that host; run vmctl there with --connect qemu:///system", ErrInvalidSpec, uri)
	}
	u, err := url.Parse(uri)
	if err != nil || !strings.HasPrefix(u.Scheme, "qemu") || u.Path != "/system" {
		return "", fmt.Errorf("%w: %s: QEMU processes can only be found for qemu:///system", ErrInvalidSpec, uri)
	}
	return QEMURunDir, nil
}

// QEMUPid returns the PID of a running domain's QEMU process from libvirt's
// pid file in dir (QEMURunDir for qemu:///system). A domain that is not
// running has no pid file: the error then wraps ErrNotRunning.
func QEMUPid(dir, name string) (int, error) {
	// The name becomes a path: never let it leave dir.
	if err := ValidateName(name); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(filepath.Join(dir, name+".pid"))
	if os.IsNotExist(err) {
		return 0, fmt.Errorf("qemu pid of %s: %w (no pid file in %s)", name, ErrNotRunning, dir)
	}
	if err != nil {
		return 0, fmt.Errorf("qemu pid of %s: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("qemu pid of %s: pid file %q holds no pid", name, strings.TrimSpace(string(data)))
	}
	return pid, nil
}
