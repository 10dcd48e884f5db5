// Package scheduler decides which libvirt host a new VM goes to, and which
// host CPUs and NUMA cells it gets when pinned.
//
// The model is OpenStack Nova's filter scheduler: every host is run through
// a chain of filters (reachable, kvm, max_vms, memory, vcpu, group); the
// hosts that pass are weighed (ram, vcpu), and the best score wins. Place
// is pure: it sees only the []Host it is given. ClaimStore wraps Place with
// a cross-process lock and claim files, so concurrent vmctl processes never
// admit more than a host holds while their VMs are still being created.
//
// Where this differs from Nova:
//   - There is no placement service. Capacity is recomputed from each host's
//     live inventory (the vmctl VMs libvirt knows) plus the claims of
//     creates in flight, under one lock. That is enough for one operator
//     machine driving a handful of hosts; it is not a distributed
//     reservation system (the claims live in a local directory).
//   - Limits (ratios, reserve, max VMs) are per host from the hosts file,
//     falling back to the Policy, like Nova's per-compute-node
//     cpu_allocation_ratio / ram_allocation_ratio / reserved_host_memory_mb.
//   - Pinned (dedicated) and floating (shared) vCPUs share one host: a
//     pinned VM takes its CPUs out of the shared pool, instead of Nova's
//     static cpu_dedicated_set / cpu_shared_set split.
//   - Group policies are the strict forms (anti-affinity / affinity), and
//     are checked against the VMs the hosts report, not a server group
//     record.
package scheduler
