package scheduler

import (
	"fmt"
	"strings"
)

// Group policies.
const (
	// GroupSpread is anti-affinity: at most one member of the group per host.
	GroupSpread = "spread"
	// GroupPack is affinity: once any host holds members, new members go
	// only to hosts that already hold some.
	GroupPack = "pack"
)

// Request is what a new VM needs from a host.
type Request struct {
	Name             string
	VCPUs, MemoryMiB int
	RequireKVM       bool
	// Pin dedicates one host CPU to each vCPU (Nova's hw:cpu_policy=dedicated).
	Pin   bool
	Group string
	// GroupPolicy is "spread" (anti-affinity) or "pack" (affinity);
	// required when Group is set.
	GroupPolicy string
}

// Validate checks the request before any host is looked at.
func (r Request) Validate() error {
	switch {
	case r.VCPUs < 1:
		return fmt.Errorf("%w: vcpus must be at least 1 (got %d)", ErrInvalidRequest, r.VCPUs)
	case r.MemoryMiB <= 0:
		return fmt.Errorf("%w: memory must be more than 0 MiB (got %d)", ErrInvalidRequest, r.MemoryMiB)
	case r.Group != "" && r.GroupPolicy == "":
		return fmt.Errorf("%w: group %q needs a group policy: %q (anti-affinity) or %q (affinity)", ErrInvalidRequest, r.Group, GroupSpread, GroupPack)
	case r.Group == "" && r.GroupPolicy != "":
		return fmt.Errorf("%w: group policy %q without a group: name the group too", ErrInvalidRequest, r.GroupPolicy)
	case r.GroupPolicy != "" && r.GroupPolicy != GroupSpread && r.GroupPolicy != GroupPack:
		return fmt.Errorf("%w: unknown group policy %q: use %q (anti-affinity) or %q (affinity)", ErrInvalidRequest, r.GroupPolicy, GroupSpread, GroupPack)
	}
	return nil
}

// describe is the request in one parenthesis, for error messages:
// "2 vCPUs, 4096 MiB" plus whatever else constrains it.
func (r Request) describe() string {
	parts := []string{plural(r.VCPUs, "vCPU"), fmt.Sprintf("%d MiB", r.MemoryMiB)}
	if r.Pin {
		parts[0] += " pinned"
	}
	if r.RequireKVM {
		parts = append(parts, "KVM")
	}
	if r.Group != "" {
		parts = append(parts, fmt.Sprintf("group %s %s", r.Group, r.GroupPolicy))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, unit string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, unit)
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// verb agrees a present-tense verb with a count: "1 VM uses", "2 VMs use".
func verb(n int, v string) string {
	if n == 1 {
		return v + "s"
	}
	return v
}
