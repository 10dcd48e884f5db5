// Package testhost starts extra libvirt hosts for tests: a second libvirtd
// in its own network and mount namespace, through scripts/testhost.sh. It
// is used by the integration tests and the fault suite, never by vmctl.
package testhost

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Up starts test host name on 10.213.index.2 with the script under the
// repository root and returns its libvirt URI. It is stopped, and every
// trace removed, when the test ends.
func Up(t testing.TB, root, name string, index int) string {
	t.Helper()
	script := filepath.Join(root, "scripts", "testhost.sh")
	out, err := exec.Command(script, "up", name, fmt.Sprint(index)).CombinedOutput()
	if err != nil {
		t.Fatalf("testhost up %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(script, "down", name).CombinedOutput(); err != nil {
			t.Errorf("testhost down %s: %v\n%s", name, err, out)
		}
	})
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
