// Package hypervisor is vmctl's view of a virtualization host: the narrow
// Backend interface every higher layer talks to, the choice between KVM and
// TCG, the libvirt domain XML vmctl sends, and the VM lifecycle built on top
// (create, wait for the guest agent, exec, stop, remove).
//
// Nothing in this package imports libvirt: the only implementation of Backend
// that talks to a real hypervisor lives in hypervisor/libvirtbackend, and the
// in-memory fake for unit tests lives in hypervisor/hypervisortest.
package hypervisor
