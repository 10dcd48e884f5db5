package scheduler

import (
	"fmt"
	"sort"
	"strings"
)

// groupFilter enforces the request's server-group policy, in its strict
// forms (Nova's ServerGroupAntiAffinityFilter / ServerGroupAffinityFilter):
// spread rejects a host already holding a member; pack, once any host holds
// members, rejects the hosts that hold none.
type groupFilter struct {
	// holders are the reachable hosts holding members of req.Group.
	holders []string
}

func newGroupFilter(hosts []Host, req Request) groupFilter {
	var g groupFilter
	if req.Group == "" {
		return g
	}
	for i := range hosts {
		if hosts[i].Err == "" && len(groupMembers(&hosts[i], req.Group)) > 0 {
			g.holders = append(g.holders, hosts[i].Name)
		}
	}
	sort.Strings(g.holders)
	return g
}

func (groupFilter) Name() string { return FilterGroup }

func (g groupFilter) Check(c *capacity, req Request) (bool, string) {
	if req.Group == "" {
		return true, ""
	}
	members := groupMembers(c.host, req.Group)
	switch req.GroupPolicy {
	case GroupSpread:
		if len(members) > 0 {
			return false, fmt.Sprintf("group %s (spread) already has %s here", req.Group, strings.Join(members, ", "))
		}
	case GroupPack:
		if len(g.holders) > 0 && len(members) == 0 {
			return false, fmt.Sprintf("group %s (pack) lives on %s, none of it here", req.Group, strings.Join(g.holders, ", "))
		}
	}
	return true, ""
}

// groupMembers names the host's VMs in group, sorted.
func groupMembers(h *Host, group string) []string {
	var out []string
	for _, vm := range h.VMs {
		if vm.Group == group {
			out = append(out, vm.Name)
		}
	}
	sort.Strings(out)
	return out
}
