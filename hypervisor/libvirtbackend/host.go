package libvirtbackend

import (
	"context"
	"fmt"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/vmctl/vmctl/hypervisor"
)

func (b *Backend) Host(ctx context.Context) (hypervisor.HostInfo, error) {
	if err := ctx.Err(); err != nil {
		return hypervisor.HostInfo{}, err
	}
	var h hypervisor.HostInfo
	h.Probed = time.Now()
	var err error
	if h.Hostname, err = b.conn.GetHostname(); err != nil {
		return h, convert("hostname", err)
	}
	ni, err := b.conn.GetNodeInfo()
	if err != nil {
		return h, convert("node info", err)
	}
	h.CPUs = int(ni.Cpus)
	h.CPUModel = ni.Model
	h.MemoryTotalMiB = int(ni.Memory / 1024)
	free, err := b.conn.GetFreeMemory()
	if err != nil {
		return h, convert("free memory", err)
	}
	h.MemoryFreeMiB = int(free / (1 << 20))
	if v, err := b.conn.GetLibVersion(); err == nil {
		h.LibvirtVersion = versionString(v)
	}
	if v, err := b.conn.GetVersion(); err == nil {
		h.QEMUVersion = versionString(v)
	}
	if capsXML, err := b.conn.GetCapabilities(); err == nil {
		var caps libvirtxml.Caps
		if caps.Unmarshal(capsXML) == nil && caps.Host.CPU != nil {
			if caps.Host.CPU.Model != "" {
				h.CPUModel = caps.Host.CPU.Model
			}
			for _, f := range caps.Host.CPU.FeatureFlags {
				if f.Name == "vmx" || f.Name == "svm" {
					h.CPUFlags = append(h.CPUFlags, f.Name)
				}
			}
			if fs := caps.Host.CPU.Features; fs != nil {
				if fs.VMX != nil {
					h.CPUFlags = append(h.CPUFlags, "vmx")
				}
				if fs.SVM != nil {
					h.CPUFlags = append(h.CPUFlags, "svm")
				}
			}
		}
	}
	// domcapabilities alone over-reports KVM (it trusts /dev/kvm), so this
	// is only one input to hypervisor.ChooseAccel, never the verdict.
	if _, err := b.conn.GetDomainCapabilities("", "x86_64", "", "kvm", 0); err == nil {
		h.KVMDevice = true
	}
	return h, nil
}

func versionString(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, (v/1000)%1000, v%1000)
}
