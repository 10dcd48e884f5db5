package guestimage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
)

// kernelMetaPackage is the Debian package that depends on the current
// kernel. amd64 only: the image is booted as an x86 bzImage or PVH vmlinux.
const kernelMetaPackage = "linux-image-amd64"

// parseAptDepends finds the kernel package in `apt-cache depends
// linux-image-amd64` output ("  Depends: linux-image-6.1.0-NN-amd64").
// Virtual packages (<...>) are skipped.
func parseAptDepends(out []byte) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		dep, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Depends:")
		if !ok {
			continue
		}
		dep = strings.TrimSpace(dep)
		if strings.HasPrefix(dep, "linux-image-") && !strings.ContainsAny(dep, "<> ") {
			return dep, nil
		}
	}
	return "", fmt.Errorf("apt-cache depends %s: no linux-image-* dependency (run apt-get update?)", kernelMetaPackage)
}

// parseAptShow reads Version and Architecture from the first record of
// `apt-cache show --no-all-versions PKG`, which is the candidate version.
func parseAptShow(out []byte) (version, arch string, err error) {
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" && version != "" {
			break // end of the first record
		}
		if v, ok := strings.CutPrefix(line, "Version:"); ok && version == "" {
			version = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Architecture:"); ok && arch == "" {
			arch = strings.TrimSpace(v)
		}
	}
	if version == "" || arch == "" {
		return "", "", fmt.Errorf("apt-cache show: no Version/Architecture in output")
	}
	return version, arch, nil
}

// debFileName is the name apt-get download gives a package: the epoch's
// colon is URL-escaped.
func debFileName(pkg, version, arch string) string {
	return fmt.Sprintf("%s_%s_%s.deb", pkg, strings.ReplaceAll(version, ":", "%3a"), arch)
}

// fetchKernelDeb finds the current kernel package and returns the path of
// its .deb in debsDir, downloading it only when that exact name and version
// is not already there. Downloads go to a temporary directory and are
// renamed into place, so an interrupted download is never taken for a
// complete one.
func (b *builder) fetchKernelDeb(ctx context.Context, debsDir string) (string, error) {
	out, err := b.run(ctx, "", "apt-cache", "depends", kernelMetaPackage)
	if err != nil {
		return "", fmt.Errorf("resolve kernel package: %w", err)
	}
	pkg, err := parseAptDepends(out)
	if err != nil {
		return "", fmt.Errorf("resolve kernel package: %w", err)
	}
	out, err = b.run(ctx, "", "apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		return "", fmt.Errorf("resolve kernel package version: %w", err)
	}
	version, arch, err := parseAptShow(out)
	if err != nil {
		return "", fmt.Errorf("resolve %s version: %w", pkg, err)
	}
	name := debFileName(pkg, version, arch)
	final := filepath.Join(debsDir, name)
	log := b.log.WithFields(logrus.Fields{"package": pkg, "version": version})
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() {
		log.WithField("deb", final).Info("reusing downloaded kernel package")
		return final, nil
	}

	if err := os.MkdirAll(debsDir, dirMode); err != nil {
		return "", fmt.Errorf("create %s: %w", debsDir, err)
	}
	if err := os.Chmod(debsDir, dirMode); err != nil {
		return "", fmt.Errorf("create %s: %w", debsDir, err)
	}
	tmp, err := os.MkdirTemp(debsDir, downloadDirPrefix)
	if err != nil {
		return "", fmt.Errorf("create download dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	allowAptSandbox(tmp, log)
	log.Info("downloading kernel package")
	if _, err := b.run(ctx, tmp, "apt-get", "download", pkg+"="+version); err != nil {
		return "", fmt.Errorf("download %s: %w", pkg, err)
	}
	got := filepath.Join(tmp, name)
	if _, err := os.Stat(got); err != nil {
		return "", fmt.Errorf("download %s: apt-get left no %s: %w", pkg, name, err)
	}
	if err := os.Chmod(got, fileMode); err != nil {
		return "", err
	}
	if err := os.Rename(got, final); err != nil {
		return "", fmt.Errorf("store %s: %w", name, err)
	}
	return final, nil
}

// allowAptSandbox hands dir to the _apt user. apt-get, run as root, drops to
// _apt to download and otherwise warns that it downloads unsandboxed. Best
// effort: the warning is harmless.
func allowAptSandbox(dir string, log logrus.FieldLogger) {
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup("_apt")
	if err != nil {
		return
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return
	}
	if err := os.Chown(dir, uid, -1); err != nil {
		log.WithError(err).Debug("cannot give download dir to _apt; apt-get will warn about its sandbox")
	}
}
