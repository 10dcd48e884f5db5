package hypervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// NamePattern is the only shape of VM name vmctl accepts: it is safe in file
// paths, libvirt names and shell output alike.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// NamePattern is the human-readable form of the name rule.
const NamePattern = "letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters"

// ValidateName checks a VM name against NamePattern.
func ValidateName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w %q: use %s", ErrInvalidName, name, NamePattern)
	}
	return nil
}

// Limits on a VM's shape. The floor is what the generic Debian kernel needs
// to boot with an initramfs; the ceilings catch typos, not policy.
const (
	MinMemoryMiB = 96
	MaxMemoryMiB = 1 << 20
	MaxVCPUs     = 256
)

// Share is a host directory exported to the guest over 9p. Read-only unless
// Writable: vmctl never hands a guest write access it was not asked for.
type Share struct {
	HostDir  string `json:"host_dir" xml:"host,attr"`
	Tag      string `json:"tag" xml:"tag,attr"`
	Writable bool   `json:"writable,omitempty" xml:"writable,attr,omitempty"`
}

var tagPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$`)

// GuestPath is where the agent mounts the share inside the guest.
func (s Share) GuestPath() string { return "/mnt/" + s.Tag }

// ParseShare reads HOSTDIR[:TAG[:rw|ro]]. The tag defaults to the directory's
// base name.
func ParseShare(s string) (Share, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 || parts[0] == "" {
		return Share{}, fmt.Errorf("%w: share %q: use HOSTDIR[:TAG[:rw]]", ErrInvalidSpec, s)
	}
	sh := Share{HostDir: parts[0]}
	if len(parts) > 1 {
		sh.Tag = parts[1]
	}
	if len(parts) > 2 {
		switch parts[2] {
		case "rw":
			sh.Writable = true
		case "ro", "":
		default:
			return Share{}, fmt.Errorf("%w: share %q: mode %q must be ro or rw", ErrInvalidSpec, s, parts[2])
		}
	}
	abs, err := filepath.Abs(sh.HostDir)
	if err != nil {
		return Share{}, fmt.Errorf("%w: share %q: %v", ErrInvalidSpec, s, err)
	}
	sh.HostDir = abs
	if sh.Tag == "" {
		sh.Tag = filepath.Base(abs)
	}
	return sh, nil
}

// Validate checks the share's tag and that its directory exists.
func (s Share) Validate() error {
	if !tagPattern.MatchString(s.Tag) {
		return fmt.Errorf("%w: share tag %q: use up to 31 letters, digits, '.', '-' or '_'", ErrInvalidSpec, s.Tag)
	}
	if !filepath.IsAbs(s.HostDir) {
		return fmt.Errorf("%w: share %q: host directory must be absolute", ErrInvalidSpec, s.HostDir)
	}
	fi, err := os.Stat(s.HostDir)
	if err != nil {
		return fmt.Errorf("%w: share %q: %v; create it or fix the path", ErrInvalidSpec, s.HostDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: share %q is not a directory", ErrInvalidSpec, s.HostDir)
	}
	return nil
}

// MaxTBCacheMiB bounds the TCG translation cache: QEMU's own default is
// 1 GiB, and a cache larger than guest code can fill only wastes address
// space.
const MaxTBCacheMiB = 2048

// MaxKernelArgs bounds the extra kernel command line, leaving room in the
// kernel's 2048 bytes for the profile's own arguments.
const MaxKernelArgs = 1024

// BootProfile selects how the domain is shaped.
type BootProfile string

const (
	// ProfileFast is vmctl's own: PVH direct boot of the uncompressed
	// kernel where supported, i440fx, no USB, balloon, graphics or other
	// devices the agent does not use, and a trimmed kernel command line.
	ProfileFast BootProfile = "fast"
	// ProfileStock is what a plain libvirt direct-kernel boot looks like:
	// q35, bzImage through SeaBIOS, libvirt's default devices. It exists as
	// the baseline `vmctl bench boot` measures against.
	ProfileStock BootProfile = "stock"
)

// VMSpec is everything needed to build a domain.
type VMSpec struct {
	Name      string
	VCPUs     int
	MemoryMiB int
	Accel     AccelChoice
	Shares    []Share
	Profile   BootProfile

	// Kernel is the image to boot (vmlinux for PVH, else bzImage).
	Kernel    string
	Initramfs string
	// ExtraKernelArgs are appended to the profile's command line.
	ExtraKernelArgs string
	// TSCKHz is the host's TSC frequency. Under TCG the guest's TSC is the
	// host's, read through; telling the guest its frequency spares a
	// calibration against the emulated PIT that fails under emulation and
	// leaves a guest without ACPI timers on the 4 ms jiffies clock.
	TSCKHz int
	// ConsoleLog receives the serial console (written by virtlogd).
	ConsoleLog string
	// TBCacheMiB sets QEMU's TCG translation cache; 0 keeps QEMU's default.
	TBCacheMiB int
	// Meta is recorded on the domain as vmctl's metadata.
	Meta Metadata
	// Pinning, if set, gives each vCPU a dedicated host CPU.
	Pinning *Pinning
	// ScratchDisk, if set, is a raw file attached as the virtio disk vda.
	ScratchDisk string
}

// Pinning dedicates host CPUs to a VM and binds its memory to NUMA cells.
type Pinning struct {
	// VCPUs[i] is the host CPU of vCPU i.
	VCPUs []int `json:"vcpus" xml:"vcpus,attr"`
	// Emulator are the CPUs QEMU's emulator threads may use.
	Emulator []int `json:"emulator" xml:"-"`
	// MemoryNodes are the NUMA cells memory is bound to (strict).
	MemoryNodes []int `json:"memory_nodes" xml:"-"`
}

// Validate checks the pinning against the VM's vCPU count.
func (p *Pinning) Validate(vcpus int) error {
	if len(p.VCPUs) != vcpus {
		return fmt.Errorf("%w: pinning lists %d CPUs for %d vCPUs", ErrInvalidSpec, len(p.VCPUs), vcpus)
	}
	seen := map[int]bool{}
	for _, c := range p.VCPUs {
		if c < 0 || seen[c] {
			return fmt.Errorf("%w: pinning gives host CPU %d twice or is negative", ErrInvalidSpec, c)
		}
		seen[c] = true
	}
	if len(p.Emulator) == 0 {
		return fmt.Errorf("%w: pinning without emulator CPUs", ErrInvalidSpec)
	}
	return nil
}

// Validate checks the spec's fields. File existence is checked by the
// caller that owns those files (the image loader).
func (s *VMSpec) Validate() error {
	if err := ValidateName(s.Name); err != nil {
		return err
	}
	if s.VCPUs < 1 || s.VCPUs > MaxVCPUs {
		return fmt.Errorf("%w: vcpus %d: use 1..%d", ErrInvalidSpec, s.VCPUs, MaxVCPUs)
	}
	if s.MemoryMiB < MinMemoryMiB || s.MemoryMiB > MaxMemoryMiB {
		return fmt.Errorf("%w: memory %d MiB: use %d..%d MiB", ErrInvalidSpec, s.MemoryMiB, MinMemoryMiB, MaxMemoryMiB)
	}
	if s.Accel.Mode != AccelKVM && s.Accel.Mode != AccelTCG {
		return fmt.Errorf("%w: acceleration must be decided (kvm or tcg), got %q", ErrInvalidSpec, s.Accel.Mode)
	}
	if s.Kernel == "" || s.Initramfs == "" {
		return fmt.Errorf("%w: kernel and initramfs are required; run `vmctl image build`", ErrInvalidSpec)
	}
	switch s.Profile {
	case ProfileFast, ProfileStock:
	default:
		return fmt.Errorf("%w: boot profile %q: use fast or stock", ErrInvalidSpec, s.Profile)
	}
	if len(s.ExtraKernelArgs) > MaxKernelArgs || strings.ContainsAny(s.ExtraKernelArgs, "\x00\n\r") {
		return fmt.Errorf("%w: kernel args: at most %d bytes on one line (the guest kernel's command line holds 2048 in all)", ErrInvalidSpec, MaxKernelArgs)
	}
	if s.TBCacheMiB < 0 || s.TBCacheMiB > MaxTBCacheMiB {
		return fmt.Errorf("%w: tb-cache %d MiB: use 0 (QEMU's default) to %d", ErrInvalidSpec, s.TBCacheMiB, MaxTBCacheMiB)
	}
	if s.Pinning != nil {
		if err := s.Pinning.Validate(s.VCPUs); err != nil {
			return err
		}
	}
	tags := map[string]bool{}
	for _, sh := range s.Shares {
		if err := sh.Validate(); err != nil {
			return err
		}
		if tags[sh.Tag] {
			return fmt.Errorf("%w: share tag %q used twice; give each share its own tag (HOSTDIR:TAG)", ErrInvalidSpec, sh.Tag)
		}
		tags[sh.Tag] = true
	}
	return nil
}
