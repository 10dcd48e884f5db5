package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/guestimage"
	"github.com/vmctl/vmctl/hypervisor/libvirtbackend"
)

// check is one line of vmctl doctor.
type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

var errDoctorFailed = errors.New("doctor: some checks failed; apply the fixes above")

func doctorCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check this host: libvirt, daemons, acceleration and why, guest image, permissions",
		Action: func(c *cli.Context) error {
			checks := runDoctor(c.Context, c.String("connect"), c.String("image-dir"))
			if jsonOutput(c) {
				if err := writeJSON(os.Stdout, checks); err != nil {
					return err
				}
			} else {
				rows := make([][]string, 0, len(checks))
				for _, ch := range checks {
					status := "ok"
					if !ch.OK {
						status = "FAIL"
					}
					rows = append(rows, []string{ch.Name, status, ch.Detail, ch.Fix})
				}
				if err := writeTable(os.Stdout, []string{"check", "status", "detail", "fix"}, rows); err != nil {
					return err
				}
			}
			for _, ch := range checks {
				if !ch.OK {
					return errDoctorFailed
				}
			}
			return nil
		},
	}
}

func runDoctor(ctx context.Context, uri, imageDir string) []check {
	var out []check
	local := hypervisor.IsLocalURI(uri)
	if local {
		out = append(out, socketCheck("virtlogd", "/run/libvirt/virtlogd-sock",
			"start it: `virtlogd -d` (or `systemctl start virtlogd`), or run scripts/setup-host.sh; without it every create fails after 60 s"))
		out = append(out, socketCheck("libvirtd", "/run/libvirt/libvirt-sock",
			"start it: `libvirtd -d` (or `systemctl start libvirtd`), or run scripts/setup-host.sh"))
		out = append(out, kvmDeviceCheck())
	}

	b, err := libvirtbackend.Open(ctx, uri)
	if err != nil {
		out = append(out, check{Name: "libvirt", Detail: err.Error(), Fix: "run scripts/setup-host.sh as root"})
	} else {
		defer b.Close()
		h, err := b.Host(ctx)
		if err != nil {
			out = append(out, check{Name: "libvirt", Detail: err.Error(), Fix: "check /var/log/libvirt/libvirtd.log"})
		} else {
			out = append(out, check{Name: "libvirt", OK: true, Detail: fmt.Sprintf("%s on %s: libvirt %s, QEMU %s", uri, h.Hostname, h.LibvirtVersion, h.QEMUVersion)})
			freeOK := h.MemoryFreeMiB > hypervisor.DefaultMemoryReserveMiB+hypervisor.MinMemoryMiB
			out = append(out, check{Name: "memory", OK: freeOK, Detail: fmt.Sprintf("%d MiB free of %d MiB; %d MiB kept in reserve", h.MemoryFreeMiB, h.MemoryTotalMiB, hypervisor.DefaultMemoryReserveMiB),
				Fix: fixIf(!freeOK, "free host memory or stop VMs")})
		}
		m, merr := hypervisor.NewManager(b, hypervisor.Config{})
		if merr == nil {
			choice, err := m.ChooseAccel(ctx, hypervisor.AccelAuto)
			if err != nil {
				out = append(out, check{Name: "acceleration", Detail: err.Error()})
			} else {
				out = append(out, check{Name: "acceleration", OK: true, Detail: fmt.Sprintf("%s: %s", choice.Mode, choice.Reason)})
			}
		}
	}
	if local {
		out = append(out, qemuUserCheck("/etc/libvirt/qemu.conf"))
	}
	out = append(out, imageCheck(imageDir))
	return out
}

func fixIf(cond bool, fix string) string {
	if cond {
		return fix
	}
	return ""
}

func socketCheck(name, path, fix string) check {
	if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		return check{Name: name, OK: true, Detail: path + " present"}
	}
	return check{Name: name, Detail: path + " missing: daemon not running", Fix: fix}
}

func kvmDeviceCheck() check {
	fi, err := os.Stat("/dev/kvm")
	if err != nil {
		return check{Name: "/dev/kvm", OK: true, Detail: "absent: guests run under TCG emulation"}
	}
	group, mode := statGroup(fi), fi.Mode().Perm()
	if group != "kvm" || mode&0o060 != 0o060 {
		return check{Name: "/dev/kvm", Detail: fmt.Sprintf("group %s, mode %04o: libvirt re-probes QEMU on every call and each create takes ~60 s", group, mode),
			Fix: "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm (scripts/setup-host.sh does this)"}
	}
	return check{Name: "/dev/kvm", OK: true, Detail: fmt.Sprintf("group %s, mode %04o", group, mode)}
}

var qemuUserRoot = regexp.MustCompile(`(?m)^\s*user\s*=\s*"(root|0|\+0)"`)

// qemuUserCheck refuses a libvirt configured to run QEMU as root: a guest
// escape would then own the host.
func qemuUserCheck(path string) check {
	data, err := os.ReadFile(path)
	if err != nil {
		return check{Name: "qemu user", OK: true, Detail: fmt.Sprintf("%s unreadable (%v): libvirt's default (non-root) applies", path, err)}
	}
	if qemuUserRoot.Match(data) {
		return check{Name: "qemu user", Detail: path + " runs QEMU as root", Fix: "remove the `user = \"root\"` line from " + path + " and restart libvirtd"}
	}
	return check{Name: "qemu user", OK: true, Detail: "QEMU runs unprivileged (libvirt-qemu on Debian)"}
}

func imageCheck(dir string) check {
	im, err := guestimage.Load(dir)
	if err != nil {
		return check{Name: "guest image", Detail: err.Error(), Fix: "vmctl image build (or make image)"}
	}
	for _, p := range []string{im.Kernel, im.Initramfs, im.BzImage} {
		fi, err := os.Stat(p)
		if err != nil {
			return check{Name: "guest image", Detail: err.Error(), Fix: "vmctl image build --force"}
		}
		if fi.Mode().Perm()&0o004 == 0 {
			return check{Name: "guest image", Detail: p + " is not world-readable; QEMU (libvirt-qemu) cannot read it", Fix: "chmod o+r " + p}
		}
	}
	boot := "bzImage"
	if im.PVH {
		boot = "PVH vmlinux"
	}
	return check{Name: "guest image", OK: true, Detail: fmt.Sprintf("%s (%s, %s)", im.Dir, strings.TrimSpace(im.KernelRelease), boot)}
}
