package hypervisor

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// Accel is the execution engine QEMU uses for a guest.
type Accel string

const (
	AccelAuto Accel = "auto"
	AccelKVM  Accel = "kvm"
	AccelTCG  Accel = "tcg"
)

// DomainType is the libvirt <domain type=...> for this acceleration.
func (a Accel) DomainType() string {
	if a == AccelKVM {
		return "kvm"
	}
	return "qemu"
}

// ParseAccel accepts auto, kvm or tcg.
func ParseAccel(s string) (Accel, error) {
	switch Accel(strings.ToLower(strings.TrimSpace(s))) {
	case "", AccelAuto:
		return AccelAuto, nil
	case AccelKVM:
		return AccelKVM, nil
	case AccelTCG, "qemu":
		return AccelTCG, nil
	}
	return "", fmt.Errorf("%w: accel %q: use auto, kvm or tcg", ErrInvalidSpec, s)
}

// AccelChoice is a decided acceleration and the reason for it, recorded on
// every VM so a benchmark result can say what it measured.
type AccelChoice struct {
	Mode   Accel  `json:"mode"`
	Reason string `json:"reason"`
}

// KVMProbe holds the two facts KVM usability depends on. libvirt's
// domcapabilities is deliberately not one of them: it trusts /dev/kvm alone
// and reports kvm on hosts (paravirtual KVM, no vmx/svm) where a stock guest
// hangs at boot.
type KVMProbe struct {
	// DeviceErr is the result of opening /dev/kvm read-write (nil: usable).
	DeviceErr error
	// CPUFlags are the host CPU flags (from /proc/cpuinfo or capabilities).
	CPUFlags []string
}

// ProbeLocalKVM reads the facts from this machine.
func ProbeLocalKVM() KVMProbe {
	var p KVMProbe
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		p.DeviceErr = err
	} else {
		f.Close()
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		p.CPUFlags = CPUInfoFlags(data)
	}
	return p
}

// CPUInfoFlags returns the "flags" of the first processor in /proc/cpuinfo.
func CPUInfoFlags(cpuinfo []byte) []string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "flags" {
			return strings.Fields(v)
		}
	}
	return nil
}

func hasVirtFlag(flags []string) (string, bool) {
	for _, f := range flags {
		if f == "vmx" || f == "svm" {
			return f, true
		}
	}
	return "", false
}

// KVMUsable applies the rule that holds on real hosts: /dev/kvm opens
// read-write AND the CPU advertises vmx or svm.
func (p KVMProbe) KVMUsable() (bool, string) {
	flag, virt := hasVirtFlag(p.CPUFlags)
	switch {
	case p.DeviceErr != nil && !virt:
		return false, fmt.Sprintf("/dev/kvm not usable (%v) and CPU has no vmx/svm", p.DeviceErr)
	case p.DeviceErr != nil:
		return false, fmt.Sprintf("/dev/kvm not usable: %v", p.DeviceErr)
	case !virt:
		return false, "/dev/kvm opens but the CPU advertises neither vmx nor svm (paravirtual or nested-less host); a stock guest would hang"
	}
	return true, fmt.Sprintf("/dev/kvm opens read-write and the CPU advertises %s", flag)
}

// ChooseAccel resolves a requested mode against the probe. auto picks KVM
// when usable, else TCG; kvm fails with ErrKVMUnavailable when unusable;
// tcg is always honoured.
func ChooseAccel(requested Accel, p KVMProbe) (AccelChoice, error) {
	ok, why := p.KVMUsable()
	switch requested {
	case AccelTCG:
		return AccelChoice{Mode: AccelTCG, Reason: "tcg requested"}, nil
	case AccelKVM:
		if !ok {
			return AccelChoice{}, fmt.Errorf("%w: %s; use --accel tcg or auto", ErrKVMUnavailable, why)
		}
		return AccelChoice{Mode: AccelKVM, Reason: "kvm requested: " + why}, nil
	case AccelAuto, "":
		if ok {
			return AccelChoice{Mode: AccelKVM, Reason: why}, nil
		}
		return AccelChoice{Mode: AccelTCG, Reason: "TCG emulation: " + why}, nil
	}
	return AccelChoice{}, fmt.Errorf("%w: accel %q: use auto, kvm or tcg", ErrInvalidSpec, requested)
}
