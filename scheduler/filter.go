package scheduler

import (
	"fmt"
	"math"
	"strconv"
)

// filter is one pass/fail test of a host for a request, like a Nova
// BaseHostFilter's host_passes, plus the reason a person reads when it
// fails. Reasons carry the numbers the decision was made on.
type filter interface {
	Name() string
	Check(c *capacity, req Request) (ok bool, reason string)
}

// Filter names, as they appear in Verdict.Filter.
const (
	FilterReachable = "reachable"
	FilterKVM       = "kvm"
	FilterMaxVMs    = "max_vms"
	FilterMemory    = "memory"
	FilterVCPU      = "vcpu"
	FilterGroup     = "group"
)

// filterChain is the filters in the order they run: cheap, certain ones
// first, so a verdict names the most basic reason a host cannot serve.
func filterChain(hosts []Host, req Request) []filter {
	return []filter{reachableFilter{}, kvmFilter{}, maxVMsFilter{}, memoryFilter{}, vcpuFilter{}, newGroupFilter(hosts, req)}
}

// reachableFilter drops hosts whose inventory could not be collected.
type reachableFilter struct{}

func (reachableFilter) Name() string { return FilterReachable }

func (reachableFilter) Check(c *capacity, _ Request) (bool, string) {
	if c.host.Err != "" {
		return false, c.host.Err
	}
	return true, ""
}

// kvmFilter keeps KVM-only requests off hosts that would fall back to TCG.
type kvmFilter struct{}

func (kvmFilter) Name() string { return FilterKVM }

func (kvmFilter) Check(c *capacity, req Request) (bool, string) {
	if !req.RequireKVM || c.host.KVM {
		return true, ""
	}
	why := c.host.KVMReason
	if why == "" {
		why = "no reason given"
	}
	return false, "KVM required, not usable here: " + why
}

// maxVMsFilter enforces the host's max_vms (Nova's NumInstancesFilter).
type maxVMsFilter struct{}

func (maxVMsFilter) Name() string { return FilterMaxVMs }

func (maxVMsFilter) Check(c *capacity, _ Request) (bool, string) {
	if c.maxVMs == nil || len(c.host.VMs) < *c.maxVMs {
		return true, ""
	}
	return false, fmt.Sprintf("host has %s, max_vms %d", plural(len(c.host.VMs), "VM"), *c.maxVMs)
}

// fmtRatio prints a ratio the way the hosts file would write it: "1.0",
// "4.0", "1.5".
func fmtRatio(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// fmtNum prints a vCPU quantity: whole numbers bare, else two decimals at
// most ("16", "4.5", "2.67").
func fmtNum(f float64) string {
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}
