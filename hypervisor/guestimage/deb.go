package guestimage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/blakesmith/ar"
	"github.com/sirupsen/logrus"
)

// maxModuleSize bounds one decompressed module; the largest in Debian's
// kernel (amdgpu) is about 15 MiB.
const maxModuleSize = 256 << 20

// entryKind classifies a path inside data.tar.
type entryKind int

const (
	entryOther entryKind = iota
	entryKernel
	entryConfig
	entryBuiltin
	entryModule
)

// classifyEntry says what a data.tar member is to us, and for which kernel
// release. Both lib/modules and usr/lib/modules (merged-/usr packages) are
// accepted.
func classifyEntry(name string) (entryKind, string) {
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	if rel, ok := strings.CutPrefix(p, "boot/vmlinuz-"); ok && rel != "" && !strings.Contains(rel, "/") {
		return entryKernel, rel
	}
	if rel, ok := strings.CutPrefix(p, "boot/config-"); ok && rel != "" && !strings.Contains(rel, "/") {
		return entryConfig, rel
	}
	rest, ok := strings.CutPrefix(strings.TrimPrefix(p, "usr/"), "lib/modules/")
	if !ok {
		return entryOther, ""
	}
	rel, sub, ok := strings.Cut(rest, "/")
	if !ok || rel == "" {
		return entryOther, ""
	}
	if sub == "modules.builtin" {
		return entryBuiltin, rel
	}
	base := path.Base(sub)
	if strings.HasSuffix(base, ".ko") || strings.Contains(base, ".ko.") {
		return entryModule, rel
	}
	return entryOther, ""
}

// debScan is the state of one pass; per-release maps because the archive
// may list modules before the kernel that tells us which release we want.
type debScan struct {
	log         logrus.FieldLogger
	outDir      string
	pkg         *kernelPackage
	modules     map[string]map[string]packagedModule
	unsupported map[string]map[string]string
	builtin     map[string]map[string]bool
	spillPos    int64
	configRel   string
	sawControl  bool
	sawData     bool
}

// scanKernelDeb reads the .deb once: the control file, boot/vmlinuz-* (to
// outDir/bzImage), boot/config-* (to outDir/config), modules.builtin, and
// every module (spilled under scratchDir). Cancelling ctx stops the read.
func scanKernelDeb(ctx context.Context, debPath, outDir, scratchDir string, log logrus.FieldLogger) (_ *kernelPackage, err error) {
	f, err := os.Open(debPath)
	if err != nil {
		return nil, fmt.Errorf("open kernel package: %w", err)
	}
	defer f.Close()
	spill, err := os.CreateTemp(scratchDir, "modules-*.spill")
	if err != nil {
		return nil, fmt.Errorf("create module spill file: %w", err)
	}
	s := &debScan{
		log:         log,
		outDir:      outDir,
		pkg:         &kernelPackage{spill: spill},
		modules:     map[string]map[string]packagedModule{},
		unsupported: map[string]map[string]string{},
		builtin:     map[string]map[string]bool{},
	}
	defer func() {
		if err != nil {
			s.pkg.Close()
		}
	}()

	// Hash what we read rather than the file beforehand, so the manifest
	// describes exactly the bytes the image came from.
	h := sha256.New()
	r := io.TeeReader(ctxReader{ctx, bufio.NewReaderSize(f, 1<<20)}, h)
	if err := s.readAr(r); err != nil {
		return nil, fmt.Errorf("read %s: %w", debPath, err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("read %s: %w", debPath, err)
	}
	s.pkg.SHA256 = hex.EncodeToString(h.Sum(nil))
	if err := s.finish(); err != nil {
		return nil, fmt.Errorf("%s: %w", debPath, err)
	}
	return s.pkg, nil
}

func (s *debScan) readAr(r io.Reader) error {
	magic := make([]byte, 8)
	_, err := io.ReadFull(r, magic)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	if string(magic) != "!<arch>\n" {
		return fmt.Errorf("%w: not an ar archive (.deb)", ErrBadKernelPackage)
	}
	// ar.NewReader skips the global header itself.
	ar := ar.NewReader(io.MultiReader(bytes.NewReader(magic), r))
	for {
		hdr, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read ar member header: %w", err)
		}
		// GNU ar terminates names with '/'; dpkg pads with spaces.
		name := strings.TrimSuffix(strings.TrimSpace(hdr.Name), "/")
		switch {
		case strings.HasPrefix(name, "control.tar"):
			s.sawControl = true
			if err := s.readMember(name, ar, s.readControl); err != nil {
				return err
			}
		case strings.HasPrefix(name, "data.tar"):
			s.sawData = true
			if err := s.readMember(name, ar, s.readData); err != nil {
				return err
			}
		}
	}
	if !s.sawControl || !s.sawData {
		return fmt.Errorf("%w: no control.tar or data.tar member", ErrBadKernelPackage)
	}
	return nil
}

// readMember decompresses one tar member and hands it to fn, then drains the
// decompressor so that its trailing integrity checks run.
func (s *debScan) readMember(name string, r io.Reader, fn func(*tar.Reader) error) error {
	dec, err := decompress(r, compressionBySuffix(name))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := fn(tar.NewReader(dec)); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := io.Copy(io.Discard, dec); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (s *debScan) readControl(tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if path.Clean("/"+hdr.Name) != "/control" {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return fmt.Errorf("read control: %w", err)
		}
		s.pkg.Control = parseControl(data)
	}
}

// parseControl reads the few single-line fields we need from a dpkg
// control file.
func parseControl(data []byte) debControl {
	var c debControl
	for _, line := range strings.Split(string(data), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "Package":
			c.Package = value
		case "Version":
			c.Version = value
		case "Architecture":
			c.Architecture = value
		}
	}
	return c
}

func (s *debScan) readData(tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		kind, rel := classifyEntry(hdr.Name)
		switch kind {
		case entryKernel:
			err = s.readKernel(hdr.Name, rel, tr)
		case entryConfig:
			err = s.readConfig(hdr.Name, rel, tr)
		case entryBuiltin:
			err = s.readBuiltin(rel, tr)
		case entryModule:
			err = s.readModule(hdr.Name, rel, tr)
		}
		if err != nil {
			return err
		}
	}
}

func (s *debScan) readKernel(name, rel string, r io.Reader) error {
	if s.pkg.Release != "" {
		return fmt.Errorf("%w: two kernels (%s and %s)", ErrBadKernelPackage, s.pkg.Release, rel)
	}
	s.pkg.Release = rel
	s.pkg.BzImage = filepath.Join(s.outDir, fileBzImage)
	if err := writeNewFile(s.pkg.BzImage, r); err != nil {
		return fmt.Errorf("extract %s: %w", name, err)
	}
	return nil
}

func (s *debScan) readConfig(name, rel string, r io.Reader) error {
	if s.pkg.Config != nil {
		return fmt.Errorf("%w: two kernel configs (%s)", ErrBadKernelPackage, name)
	}
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return fmt.Errorf("extract %s: %w", name, err)
	}
	s.configRel = rel
	s.pkg.ConfigPath = filepath.Join(s.outDir, fileConfig)
	s.pkg.Config = data
	if err := writeNewFile(s.pkg.ConfigPath, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("extract %s: %w", name, err)
	}
	return nil
}

func (s *debScan) readBuiltin(rel string, r io.Reader) error {
	set := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			set[moduleNameFromPath(line)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read modules.builtin: %w", err)
	}
	s.builtin[rel] = set
	return nil
}

func (s *debScan) readModule(name, rel string, r io.Reader) error {
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	comp := compressionBySuffix(p)
	if comp != compNone && comp != compXZ && comp != compGzip {
		// Unreadable but possibly unneeded: only an error if wanted.
		addTo(s.unsupported, rel, moduleNameFromPath(p), p)
		return nil
	}
	dec, err := decompress(r, comp)
	if err != nil {
		return fmt.Errorf("module %s: %w", p, err)
	}
	off := s.spillPos
	n, err := io.Copy(s.pkg.spill, io.LimitReader(dec, maxModuleSize+1))
	s.spillPos += n
	if err != nil {
		return fmt.Errorf("spill module %s: %w", p, err)
	}
	if n > maxModuleSize {
		return fmt.Errorf("%w: module %s is larger than %d bytes", ErrBadKernelPackage, p, maxModuleSize)
	}
	info, err := readModinfo(io.NewSectionReader(s.pkg.spill, off, n))
	if err != nil {
		return fmt.Errorf("%w: module %s: %w", ErrBadKernelPackage, p, err)
	}
	if info.Name == "" {
		info.Name = moduleNameFromPath(p)
	}
	if prev, dup := s.modules[rel][info.Name]; dup {
		s.log.WithFields(logrus.Fields{"module": info.Name, "kept": prev.Path, "ignored": p}).Warn("duplicate module in kernel package")
		return nil
	}
	addTo(s.modules, rel, info.Name, packagedModule{Path: p, Info: info, off: off, size: n})
	return nil
}

func addTo[V any](m map[string]map[string]V, rel, name string, v V) {
	if m[rel] == nil {
		m[rel] = map[string]V{}
	}
	m[rel][name] = v
}

// finish keeps what belongs to the kernel's release and checks the package
// had what a guest image needs.
func (s *debScan) finish() error {
	p := s.pkg
	if p.Release == "" {
		return fmt.Errorf("%w: no boot/vmlinuz-* (is this a linux-image package?)", ErrBadKernelPackage)
	}
	if p.Config == nil || s.configRel != p.Release {
		return fmt.Errorf("%w: no boot/config-%s", ErrBadKernelPackage, p.Release)
	}
	for rel := range s.modules {
		if rel != p.Release {
			s.log.WithFields(logrus.Fields{"release": rel, "kernel": p.Release}).Warn("ignoring modules of another kernel release")
		}
	}
	p.Modules = s.modules[p.Release]
	p.Unsupported = s.unsupported[p.Release]
	p.Builtin = s.builtin[p.Release]
	if p.Builtin == nil {
		s.log.WithField("release", p.Release).Debug("kernel package has no modules.builtin; assuming nothing is built in")
	}
	return nil
}
