package hypervisor

import (
	"fmt"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// Kernel command lines. Each trimmed item pays for itself under TCG, where
// every probe of absent hardware is emulated:
//   - quiet/loglevel: serial output is an I/O exit per character;
//   - i8042.*: skips probing a PS/2 controller the agent never uses;
//   - panic=-1 with on_reboot=destroy: a dying agent (PID 1) stops the
//     domain instead of leaving a hung guest behind;
//   - tsc_early_khz (TCG only, see VMSpec.TSCKHz).
//
// Measured and left out: nolapic_timer skips the APIC timer's 100 ms
// calibration spin, but the PIT ticks that replace it cost an idle TCG
// guest 1.8% of a host CPU instead of 0.3%, which a host of 50 idle VMs
// cannot afford.
const (
	fastKernelArgs  = "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"
	stockKernelArgs = "console=ttyS0 panic=-1 rdinit=/init"
)

// KernelArgs returns the command line the spec boots with.
func (s *VMSpec) KernelArgs() string {
	base := fastKernelArgs
	switch {
	case s.Profile == ProfileStock:
		base = stockKernelArgs
	case s.Accel.Mode == AccelTCG && s.TSCKHz > 0:
		base += fmt.Sprintf(" tsc_early_khz=%d", s.TSCKHz)
	}
	return strings.TrimSpace(base + " " + s.ExtraKernelArgs)
}

// BuildDomain renders the spec as a libvirt domain. The result is pure data:
// golden files under testdata/ pin exactly what vmctl sends to libvirt.
func BuildDomain(s *VMSpec) (*libvirtxml.Domain, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	meta := s.Meta
	meta.AccelMode = s.Accel.Mode
	meta.AccelReason = s.Accel.Reason
	meta.Profile = string(s.Profile)
	metaXML, err := MarshalMetadata(meta)
	if err != nil {
		return nil, err
	}

	machine := "pc"
	if s.Profile == ProfileStock {
		machine = "q35"
	}
	port0 := uint(0)
	dom := &libvirtxml.Domain{
		Type:        s.Accel.Mode.DomainType(),
		Name:        s.Name,
		Description: "managed by vmctl; do not edit by hand",
		Metadata:    &libvirtxml.DomainMetadata{XML: metaXML},
		Memory:      &libvirtxml.DomainMemory{Value: uint(s.MemoryMiB), Unit: "MiB"},
		VCPU:        &libvirtxml.DomainVCPU{Placement: "static", Value: uint(s.VCPUs)},
		OS: &libvirtxml.DomainOS{
			Type:    &libvirtxml.DomainOSType{Arch: "x86_64", Machine: machine, Type: "hvm"},
			Kernel:  s.Kernel,
			Initrd:  s.Initramfs,
			Cmdline: s.KernelArgs(),
		},
		Features: &libvirtxml.DomainFeatureList{
			// ACPI is how the guest's poweroff reaches QEMU.
			ACPI: &libvirtxml.DomainFeature{},
			APIC: &libvirtxml.DomainFeatureAPIC{},
		},
		OnPoweroff: "destroy",
		OnReboot:   "destroy",
		OnCrash:    "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainSerialTarget{Port: &port0},
			}},
			Channels: []libvirtxml.DomainChannel{{
				// No path: libvirt generates one under its own runtime
				// directory and removes it when the domain stops, so a
				// crashed vmctl never leaves a socket behind.
				Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind"}},
				Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: AgentChannelName}},
			}},
		},
	}
	if s.ConsoleLog != "" {
		dom.Devices.Serials[0].Log = &libvirtxml.DomainChardevLog{File: s.ConsoleLog, Append: "off"}
	}
	switch s.Accel.Mode {
	case AccelKVM:
		// The guest sees the host CPU: the point of KVM is native speed.
		dom.CPU = &libvirtxml.DomainCPU{Mode: "host-passthrough", Check: "none", Migratable: "on"}
	case AccelTCG:
		if s.TBCacheMiB > 0 {
			dom.Features.TCG = &libvirtxml.DomainFeatureTCG{
				TBCache: &libvirtxml.DomainFeatureTCGTBCache{Unit: "MiB", Size: uint(s.TBCacheMiB)},
			}
		}
	}
	if s.Profile == ProfileFast {
		// libvirt adds a USB controller and a memory balloon to every x86
		// domain unless told not to; the agent uses neither.
		dom.Devices.Controllers = []libvirtxml.DomainController{{Type: "usb", Model: "none"}}
		dom.Devices.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "none"}
	}
	if p := s.Pinning; p != nil {
		tune := &libvirtxml.DomainCPUTune{EmulatorPin: &libvirtxml.DomainCPUTuneEmulatorPin{CPUSet: FormatCPUSet(p.Emulator)}}
		for i, c := range p.VCPUs {
			tune.VCPUPin = append(tune.VCPUPin, libvirtxml.DomainCPUTuneVCPUPin{VCPU: uint(i), CPUSet: fmt.Sprint(c)})
		}
		dom.CPUTune = tune
		if len(p.MemoryNodes) > 0 {
			dom.NUMATune = &libvirtxml.DomainNUMATune{Memory: &libvirtxml.DomainNUMATuneMemory{Mode: "strict", Nodeset: FormatCPUSet(p.MemoryNodes)}}
		}
	}
	if s.ScratchDisk != "" {
		dom.Devices.Disks = append(dom.Devices.Disks, libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: s.ScratchDisk}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
		})
	}
	for _, sh := range s.Shares {
		fs := libvirtxml.DomainFilesystem{
			AccessMode: "passthrough",
			Source:     &libvirtxml.DomainFilesystemSource{Mount: &libvirtxml.DomainFilesystemSourceMount{Dir: sh.HostDir}},
			Target:     &libvirtxml.DomainFilesystemTarget{Dir: sh.Tag},
		}
		if !sh.Writable {
			fs.ReadOnly = &libvirtxml.DomainFilesystemReadOnly{}
		}
		dom.Devices.Filesystems = append(dom.Devices.Filesystems, fs)
	}
	return dom, nil
}

// DomainXML is BuildDomain rendered to text.
func DomainXML(s *VMSpec) (string, error) {
	dom, err := BuildDomain(s)
	if err != nil {
		return "", err
	}
	out, err := dom.Marshal()
	if err != nil {
		return "", fmt.Errorf("marshal domain %s: %w", s.Name, err)
	}
	return out, nil
}

// AgentSocketPath finds the host end of the agent channel in a live domain's
// XML (libvirt fills in the generated path once the domain runs).
func AgentSocketPath(domainXML string) (string, error) {
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(domainXML); err != nil {
		return "", fmt.Errorf("parse domain xml: %w", err)
	}
	if dom.Devices == nil {
		return "", ErrNoAgentChannel
	}
	for _, ch := range dom.Devices.Channels {
		if ch.Target == nil || ch.Target.VirtIO == nil || ch.Target.VirtIO.Name != AgentChannelName {
			continue
		}
		if ch.Source == nil || ch.Source.UNIX == nil || ch.Source.UNIX.Path == "" {
			return "", fmt.Errorf("%w: channel %s has no unix socket path", ErrNoAgentChannel, AgentChannelName)
		}
		return ch.Source.UNIX.Path, nil
	}
	return "", ErrNoAgentChannel
}

// DomainPinning reads the vCPU pins and memory binding back from a domain's
// XML, so placement sees CPUs that earlier VMs hold.
func DomainPinning(domainXML string) (cpus, nodes []int, err error) {
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(domainXML); err != nil {
		return nil, nil, fmt.Errorf("parse domain xml: %w", err)
	}
	if dom.CPUTune != nil {
		seen := map[int]bool{}
		for _, pin := range dom.CPUTune.VCPUPin {
			ids, err := ParseCPUSet(pin.CPUSet)
			if err != nil {
				return nil, nil, err
			}
			for _, c := range ids {
				if !seen[c] {
					seen[c] = true
					cpus = append(cpus, c)
				}
			}
		}
	}
	if dom.NUMATune != nil && dom.NUMATune.Memory != nil && dom.NUMATune.Memory.Nodeset != "" {
		if nodes, err = ParseCPUSet(dom.NUMATune.Memory.Nodeset); err != nil {
			return nil, nil, err
		}
	}
	return cpus, nodes, nil
}
