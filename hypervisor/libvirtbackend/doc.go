// Package libvirtbackend implements hypervisor.Backend on libvirt. It is the
// only package in vmctl that imports libvirt.org/go/libvirt (and so the only
// one that needs cgo and libvirt-dev); everything above it sees
// hypervisor.Backend and hypervisor's sentinel errors.
package libvirtbackend
