package guestimage

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestResolveLoadOrder(t *testing.T) {
	// The dependencies measured on Debian's 6.1 kernel.
	debian := map[string]moduleInfo{
		"virtio_ring":           {Name: "virtio_ring"},
		"virtio":                {Name: "virtio", Depends: []string{"virtio_ring"}},
		"virtio_pci":            {Name: "virtio_pci", Depends: []string{"virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio"}},
		"virtio_pci_modern_dev": {Name: "virtio_pci_modern_dev"},
		"virtio_pci_legacy_dev": {Name: "virtio_pci_legacy_dev"},
		"virtio_console":        {Name: "virtio_console", Depends: []string{"virtio", "virtio_ring"}},
		"9pnet":                 {Name: "9pnet"},
		"9pnet_virtio":          {Name: "9pnet_virtio", Depends: []string{"virtio", "9pnet", "virtio_ring"}},
		"netfs":                 {Name: "netfs"},
		"fscache":               {Name: "fscache", Depends: []string{"netfs"}},
		"9p":                    {Name: "9p", Depends: []string{"9pnet", "fscache", "netfs"}},
		"virtio_rng":            {Name: "virtio_rng", Depends: []string{"virtio", "virtio_ring"}},
	}
	tests := []struct {
		name        string
		wanted      []string
		available   map[string]moduleInfo
		builtin     map[string]bool
		wantOrder   []string
		wantBuiltin []string
		wantErr     error
		errContains []string
	}{
		{
			name:      "debian virtio set, sorted visit, deps first",
			wanted:    []string{"virtio_pci", "virtio_console", "9p", "9pnet_virtio"},
			available: debian,
			wantOrder: []string{"9pnet", "netfs", "fscache", "9p", "virtio_ring", "virtio", "9pnet_virtio", "virtio_console", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci"},
		},
		{
			name:      "order of wanted does not matter",
			wanted:    []string{"9pnet_virtio", "9p", "virtio_console", "virtio_pci"},
			available: debian,
			wantOrder: []string{"9pnet", "netfs", "fscache", "9p", "virtio_ring", "virtio", "9pnet_virtio", "virtio_console", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci"},
		},
		{
			name:      "dash and underscore are the same module",
			wanted:    []string{"virtio-rng", "virtio_rng"},
			available: map[string]moduleInfo{"virtio_rng": {Name: "virtio_rng", Depends: []string{"virtio-ring"}}, "virtio_ring": {Name: "virtio_ring"}},
			wantOrder: []string{"virtio_ring", "virtio_rng"},
		},
		{
			name:        "built-in wanted module is skipped",
			wanted:      []string{"virtio", "virtio_blk"},
			available:   map[string]moduleInfo{"virtio_blk": {Name: "virtio_blk", Depends: []string{"virtio"}}},
			builtin:     map[string]bool{"virtio": true},
			wantOrder:   []string{"virtio_blk"},
			wantBuiltin: []string{"virtio"},
		},
		{
			name:        "built-in wins over a packaged .ko",
			wanted:      []string{"virtio"},
			available:   map[string]moduleInfo{"virtio": {Name: "virtio"}},
			builtin:     map[string]bool{"virtio": true},
			wantOrder:   nil,
			wantBuiltin: []string{"virtio"},
		},
		{
			name:        "missing modules are all named",
			wanted:      []string{"nosuch", "virtio_net"},
			available:   map[string]moduleInfo{"virtio_net": {Name: "virtio_net", Depends: []string{"net_failover"}}},
			wantErr:     ErrModuleNotFound,
			errContains: []string{"nosuch", "net_failover (required by virtio_net)"},
		},
		{
			name:   "cycle is reported with its path",
			wanted: []string{"a"},
			available: map[string]moduleInfo{
				"a": {Name: "a", Depends: []string{"b"}},
				"b": {Name: "b", Depends: []string{"c"}},
				"c": {Name: "c", Depends: []string{"a"}},
			},
			wantErr:     ErrDependencyCycle,
			errContains: []string{"a -> b -> c -> a"},
		},
		{
			name:        "self dependency is a cycle",
			wanted:      []string{"a"},
			available:   map[string]moduleInfo{"a": {Name: "a", Depends: []string{"a"}}},
			wantErr:     ErrDependencyCycle,
			errContains: []string{"a -> a"},
		},
		{
			name:   "diamond loads shared dependency once",
			wanted: []string{"top"},
			available: map[string]moduleInfo{
				"top":   {Name: "top", Depends: []string{"right", "left", "left"}},
				"left":  {Name: "left", Depends: []string{"base"}},
				"right": {Name: "right", Depends: []string{"base"}},
				"base":  {Name: "base"},
			},
			wantOrder: []string{"base", "left", "right", "top"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := resolveLoadOrder(tt.wanted, tt.available, tt.builtin)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				for _, s := range tt.errContains {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveLoadOrder: %v", err)
			}
			if !slices.Equal(plan.Order, tt.wantOrder) {
				t.Errorf("order = %v\nwant    %v", plan.Order, tt.wantOrder)
			}
			if !slices.Equal(plan.Builtin, tt.wantBuiltin) {
				t.Errorf("builtin = %v, want %v", plan.Builtin, tt.wantBuiltin)
			}
			// Whatever the order, every dependency must come first.
			for i, name := range plan.Order {
				for _, d := range tt.available[name].Depends {
					if j := slices.Index(plan.Order, normalizeModule(d)); j > i {
						t.Errorf("%s loads before its dependency %s", name, d)
					}
				}
			}
		})
	}
}
