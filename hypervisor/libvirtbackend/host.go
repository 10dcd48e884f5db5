package libvirtbackend

import (
	"context"
	"fmt"
	"strings"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/vmctl/vmctl/hypervisor"
)

func (b *Backend) Host(ctx context.Context) (hypervisor.HostInfo, error) {
	var h hypervisor.HostInfo
	err := b.do(ctx, idempotent, func(conn *libvirt.Connect) error {
		var err error
		h, err = hostInfo(conn)
		return err
	})
	return h, err
}

func hostInfo(conn *libvirt.Connect) (hypervisor.HostInfo, error) {
	var h hypervisor.HostInfo
	h.Probed = time.Now()
	var err error
	if h.Hostname, err = conn.GetHostname(); err != nil {
		return h, convert("hostname", err)
	}
	ni, err := conn.GetNodeInfo()
	if err != nil {
		return h, convert("node info", err)
	}
	h.CPUs = int(ni.Cpus)
	h.CPUModel = ni.Model
	h.MemoryTotalMiB = int(ni.Memory / 1024)
	free, err := conn.GetFreeMemory()
	if err != nil {
		return h, convert("free memory", err)
	}
	h.MemoryFreeMiB = int(free / (1 << 20))
	// Node info and free memory add up the NUMA cells; memory the kernel
	// has outside them (hot-plugged into a VM host, as on the CI machines:
	// 7 of 24 GiB in cell 0) only the host-wide counters show. Cells still
	// bound pinned VMs.
	if st, err := conn.GetMemoryStats(libvirt.NODE_MEMORY_STATS_ALL_CELLS, 0); err == nil {
		if st.TotalSet && int(st.Total/1024) > h.MemoryTotalMiB {
			h.MemoryTotalMiB = int(st.Total / 1024)
		}
		if st.FreeSet && int(st.Free/1024) > h.MemoryFreeMiB {
			h.MemoryFreeMiB = int(st.Free / 1024)
		}
	}
	if v, err := conn.GetLibVersion(); err == nil {
		h.LibvirtVersion = versionString(v)
	}
	if v, err := conn.GetVersion(); err == nil {
		h.QEMUVersion = versionString(v)
	}
	if capsXML, err := conn.GetCapabilities(); err == nil {
		var caps libvirtxml.Caps
		if caps.Unmarshal(capsXML) == nil {
			h.Cells = cells(conn, caps, h)
		}
		if caps.Unmarshal(capsXML) == nil && caps.Host.CPU != nil {
			if caps.Host.CPU.Model != "" {
				h.CPUModel = caps.Host.CPU.Model
			}
			if c := caps.Host.CPU.Counter; c != nil && c.Name == "tsc" {
				h.TSCKHz = int(c.Frequency / 1000)
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
	if _, err := conn.GetDomainCapabilities("", "x86_64", "", "kvm", 0); err == nil {
		h.KVMDevice = true
	}
	return h, nil
}

func versionString(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, (v/1000)%1000, v%1000)
}

// cells reads the NUMA topology from capabilities and each cell's free
// memory; a host that reports no topology is one cell holding every CPU.
func cells(conn *libvirt.Connect, caps libvirtxml.Caps, h hypervisor.HostInfo) []hypervisor.NUMACell {
	var out []hypervisor.NUMACell
	if caps.Host.NUMA != nil && caps.Host.NUMA.Cells != nil {
		for _, c := range caps.Host.NUMA.Cells.Cells {
			cell := hypervisor.NUMACell{ID: c.ID}
			if c.Memory != nil {
				cell.MemoryMiB = int(memKiB(c.Memory.Size, c.Memory.Unit) / 1024)
			}
			if c.CPUS != nil {
				for _, cpu := range c.CPUS.CPUs {
					cell.CPUs = append(cell.CPUs, cpu.ID)
				}
			}
			out = append(out, cell)
		}
	}
	if len(out) == 0 {
		cell := hypervisor.NUMACell{MemoryMiB: h.MemoryTotalMiB, FreeMiB: h.MemoryFreeMiB}
		for i := 0; i < h.CPUs; i++ {
			cell.CPUs = append(cell.CPUs, i)
		}
		return []hypervisor.NUMACell{cell}
	}
	maxID := 0
	for _, c := range out {
		if c.ID > maxID {
			maxID = c.ID
		}
	}
	if free, err := conn.GetCellsFreeMemory(0, maxID+1); err == nil {
		for i := range out {
			if out[i].ID < len(free) {
				out[i].FreeMiB = int(free[out[i].ID] / (1 << 20))
			}
		}
	}
	return out
}

func memKiB(v uint64, unit string) uint64 {
	switch strings.ToLower(unit) {
	case "b", "bytes":
		return v / 1024
	case "mib", "m":
		return v * 1024
	case "gib", "g":
		return v * 1024 * 1024
	}
	return v // libvirt's default unit is KiB
}
