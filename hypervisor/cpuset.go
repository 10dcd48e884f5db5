package hypervisor

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ParseCPUSet reads libvirt's cpuset syntax ("0-3,6,^2") into sorted ids.
func ParseCPUSet(s string) ([]int, error) {
	set := map[int]bool{}
	var exclude []int
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		neg := strings.HasPrefix(part, "^")
		part = strings.TrimPrefix(part, "^")
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("cpuset %q: bad cpu %q", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("cpuset %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			if neg {
				exclude = append(exclude, c)
			} else {
				set[c] = true
			}
		}
	}
	for _, c := range exclude {
		delete(set, c)
	}
	out := make([]int, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Ints(out)
	return out, nil
}

// FormatCPUSet writes ids in libvirt's cpuset syntax, folding runs.
func FormatCPUSet(ids []int) string {
	s := append([]int(nil), ids...)
	sort.Ints(s)
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", s[i], s[j]))
		} else {
			parts = append(parts, strconv.Itoa(s[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
