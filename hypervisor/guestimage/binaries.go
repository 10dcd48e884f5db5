package guestimage

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"slices"
	"strings"
)

// checkStaticELF fails unless data is an ELF executable without PT_INTERP:
// the initramfs has no dynamic loader or libc, so anything else fails to
// exec (and as /init that is a kernel panic).
func checkStaticELF(data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("ELF type %v is not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return ErrNotStatic
		}
	}
	return nil
}

// checkBusybox checks the busybox binary and names the fix when it is the
// dynamically linked one from Debian's "busybox" package.
func checkBusybox(path string, data []byte) error {
	if err := checkStaticELF(data); err != nil {
		return fmt.Errorf("busybox %s: %w; install a static one with `apt-get install busybox-static`", path, err)
	}
	return nil
}

// checkAgent accepts a static ELF, or a script (its interpreter can be a
// busybox applet); a dynamic agent would panic the guest kernel at /init.
func checkAgent(path string, data []byte) error {
	if bytes.HasPrefix(data, []byte("#!")) {
		return nil
	}
	if err := checkStaticELF(data); err != nil {
		return fmt.Errorf("agent %s: %w; build it with CGO_ENABLED=0", path, err)
	}
	return nil
}

// reservedApplet reports applets we do not link into /bin: "busybox" is the
// binary itself, and init/linuxrc would let the kernel's fallback search
// (it tries /bin/init when /init fails) start busybox's init instead of
// failing visibly.
func reservedApplet(name string) bool {
	switch name {
	case "busybox", "init", "linuxrc":
		return true
	}
	return false
}

// busyboxApplets runs `busybox --list` and returns the applets to link,
// sorted. The names come from a binary we did not build, so anything that
// is not a plain file name is rejected rather than allowed to escape /bin.
func (b *builder) busyboxApplets(ctx context.Context, path string) ([]string, error) {
	out, err := b.run(ctx, "", path, "--list")
	if err != nil {
		return nil, fmt.Errorf("list busybox applets: %w", err)
	}
	return parseApplets(out)
}

func parseApplets(out []byte) ([]string, error) {
	var applets []string
	for _, line := range strings.Split(string(out), "\n") {
		name := strings.TrimSpace(line)
		if name == "" || reservedApplet(name) {
			continue
		}
		if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			return nil, fmt.Errorf("busybox --list: bad applet name %q", name)
		}
		applets = append(applets, name)
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("busybox --list printed no applets")
	}
	slices.Sort(applets)
	return slices.Compact(applets), nil
}
