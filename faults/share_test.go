//go:build faults

package faults

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vmctl/vmctl/hypervisor"
)

// TestScenario10ShareAttack: the guest's agent runs as root; the share
// is read-only and QEMU (not the guest kernel) enforces it, and symlinks
// made on the host cannot take the guest outside the shared directory.
func TestScenario10ShareAttack(t *testing.T) {
	s := newScenario(t, "10 guest root attacks the 9p share")
	s.run(func(t *testing.T, r *runEnv) {
		share := filepath.Join(r.tmp, "share")
		outside := filepath.Join(r.tmp, "outside")
		for _, d := range []string{share, outside} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		const inside, secret = "shared content\n", "host secret outside the share\n"
		writeFile(t, filepath.Join(share, "hello.txt"), inside)
		writeFile(t, filepath.Join(outside, "secret.txt"), secret)
		// A marker directory next to the share, to tell a listing of the
		// host's directories from the share's.
		if err := os.Mkdir(filepath.Join(r.tmp, "host-only-dir"), 0o755); err != nil {
			t.Fatal(err)
		}
		name := r.name("share")
		r.createVM(name, "--share", share+":data")
		// Made after the VM started: a host-side link the guest walks into.
		for link, target := range map[string]string{
			"escape": filepath.Join(outside, "secret.txt"),
			"up":     "../../..",
			"abs":    outside,
		} {
			if err := os.Symlink(target, filepath.Join(share, link)); err != nil {
				t.Fatal(err)
			}
		}
		sh := func(script string) result {
			t.Helper()
			return r.vmctl("vm", "exec", name, "--", "sh", "-c", script)
		}

		if res := sh("id -u; cat /mnt/data/hello.txt"); res.code != 0 || res.stdout != "0\n"+inside {
			t.Fatalf("the guest reads the share as root: exit %d, %q %s", res.code, res.stdout, res.stderr)
		}
		// Writes: as mounted, after a read-write remount, and a new file.
		for _, c := range []struct{ what, script string }{
			{"write", "echo x > /mnt/data/hello.txt"},
			{"create", "echo x > /mnt/data/new.txt"},
			{"remount rw, then write", "mount -o remount,rw /mnt/data; echo x > /mnt/data/new.txt"},
			{"remount rw, then chmod", "mount -o remount,rw /mnt/data; chmod 777 /mnt/data/hello.txt"},
		} {
			res := sh(c.script)
			if res.code == 0 {
				t.Errorf("%s: succeeded in a read-only share", c.what)
			}
			if !strings.Contains(res.stderr, "Read-only file system") {
				t.Errorf("%s: exit %d, stderr %q: want EROFS", c.what, res.code, res.stderr)
			}
		}
		if data, err := os.ReadFile(filepath.Join(share, "hello.txt")); err != nil || string(data) != inside {
			t.Errorf("the host's file changed: %q %v", data, err)
		}
		if _, err := os.Stat(filepath.Join(share, "new.txt")); err == nil {
			t.Error("the guest created a file in the read-only share")
		}

		// Links: the guest sees them as links, and following them does
		// not leave the share: 9p passthrough hands the link itself to
		// the guest, which resolves it against its own tree.
		ls := sh("ls -l /mnt/data/")
		if !strings.Contains(ls.stdout, "escape -> ") || !strings.Contains(ls.stdout, "up -> ../../..") {
			t.Errorf("the guest does not see the links as links:\n%s%s", ls.stdout, ls.stderr)
		}
		hostNames := []string{strings.TrimSpace(secret), "host-only-dir", filepath.Base(r.base), "image-hostile"}
		for _, c := range []struct{ what, script string }{
			{"read escape (absolute link to a host file)", "cat /mnt/data/escape"},
			{"list up/ (../../..)", "ls -a /mnt/data/up/ /mnt/data/up/tmp/"},
			{"list abs/ (absolute link to a host directory)", "ls -a /mnt/data/abs/"},
			{"read through abs/", "cat /mnt/data/abs/secret.txt"},
		} {
			res := sh(c.script)
			t.Logf("%s: exit %d\n%s%s", c.what, res.code, res.stdout, res.stderr)
			for _, h := range hostNames {
				if strings.Contains(res.stdout, h) {
					t.Errorf("%s: the guest saw %q, which is outside the share", c.what, h)
				}
			}
		}
		// up/ is the guest's own root, where its /init lives.
		if res := sh("ls /mnt/data/up/"); !strings.Contains(res.stdout, "init") {
			t.Errorf("up/ (../../..) is not the guest's root:\n%s%s", res.stdout, res.stderr)
		}
		s.figure("share: 4 writes refused with EROFS (2 after remount rw); 4 reads through host-made links saw nothing outside the share")

		// QEMU, which serves the share, does not run as root.
		show := r.mustVMCTL("-o", "json", "vm", "show", name)
		var info hypervisor.DomainInfo
		if err := json.Unmarshal([]byte(show.stdout), &info); err != nil || info.QEMUPid <= 0 {
			t.Fatalf("vm show: QEMU pid %d: %v\n%s", info.QEMUPid, err, show.stdout)
		}
		uid, err := procUIDs(info.QEMUPid)
		if err != nil {
			t.Fatal(err)
		}
		s.figure("QEMU pid %d: real/effective/saved/fs uid %s", info.QEMUPid, strings.Join(uid, "/"))
		for i, u := range uid {
			if u == "0" {
				t.Errorf("QEMU's uid field %d is 0 (root): %v", i, uid)
			}
		}
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// procUIDs is the Uid line of /proc/PID/status: real, effective, saved
// and filesystem uid.
func procUIDs(pid int) ([]string, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			return strings.Fields(rest), nil
		}
	}
	return nil, os.ErrNotExist
}
