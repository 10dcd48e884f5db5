package scheduler

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestLoadHostsFileExample(t *testing.T) {
	specs, err := LoadHostsFile(filepath.Join("..", "testdata", "hosts", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []HostSpec{
		{Name: "local", URI: "qemu:///system", Limits: Limits{ReserveMiB: ptr(1024), MaxVMs: ptr(8)}},
		{Name: "h2", URI: "qemu+tcp://10.213.2.2/system", Limits: Limits{
			CPUAllocationRatio: ptr(8.0), RAMAllocationRatio: ptr(1.0), ReserveMiB: ptr(512),
			MemoryMiB: ptr(16384), Weight: ptr(1.5),
		}},
	}
	if !reflect.DeepEqual(specs, want) {
		t.Fatalf("got %+v\nwant %+v", specs, want)
	}
}

func TestLoadHostsFileMissing(t *testing.T) {
	_, err := LoadHostsFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

func TestParseHostsFileGood(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []HostSpec
	}{
		{
			name: "minimal entries leave every limit unset",
			yaml: "hosts:\n  - name: a\n    uri: qemu:///system\n  - name: b\n    uri: test:///default\n",
			want: []HostSpec{{Name: "a", URI: "qemu:///system"}, {Name: "b", URI: "test:///default"}},
		},
		{
			name: "explicit zeros differ from unset",
			yaml: "hosts:\n  - name: a\n    uri: qemu:///system\n    reserve_mib: 0\n    max_vms: 0\n    weight: 0\n",
			want: []HostSpec{{Name: "a", URI: "qemu:///system", Limits: Limits{ReserveMiB: ptr(0), MaxVMs: ptr(0), Weight: ptr(0.0)}}},
		},
		{
			name: "flow style and surrounding spaces",
			yaml: "hosts: [{name: ' a ', uri: 'qemu+ssh://root@h/system', memory_mib: 2048}]",
			want: []HostSpec{{Name: "a", URI: "qemu+ssh://root@h/system", Limits: Limits{MemoryMiB: ptr(2048)}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHostsFile([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseHostsFileBad(t *testing.T) {
	const two = "hosts:\n  - name: a\n    uri: qemu:///system\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"empty file", "", []string{"no hosts", "`hosts:`"}},
		{"comments only", "# nothing\n", []string{"no hosts"}},
		{"hosts without entries", "hosts:\n", []string{"no hosts"}},
		{"empty list", "hosts: []\n", []string{"no hosts"}},
		{"top level is a list", "- name: a\n", []string{"line 1", "top level must be a mapping"}},
		{"unknown top-level key", "host:\n  - name: a\n", []string{"line 1", `unknown field "host"`, "did you mean hosts?"}},
		{"hosts is not a list", "hosts: local\n", []string{"line 1", "must be a list"}},
		{"entry is not a mapping", "hosts:\n  - local\n", []string{"line 2", "hosts[0] must be a mapping"}},
		{"unknown field with typo", two + "    cpu_alocation_ratio: 2\n", []string{"line 4", "hosts[0]", `unknown field "cpu_alocation_ratio"`, "did you mean cpu_allocation_ratio?", "known fields: name, uri, cpu_allocation_ratio"}},
		{"unknown field without a near match", two + "    colour: red\n", []string{`unknown field "colour"`, "known fields:"}},
		{"missing name", "hosts:\n  - uri: qemu:///system\n", []string{"line 2: hosts[0]", "missing name", "name: h1"}},
		{"blank name", "hosts:\n  - name: ' '\n    uri: qemu:///system\n", []string{"missing name"}},
		{"name with a space", "hosts:\n  - name: my host\n    uri: qemu:///system\n", []string{`name "my host" has spaces`}},
		{"missing uri", "hosts:\n  - name: a\n", []string{"hosts[0] (a)", "missing uri", "qemu:///system"}},
		{"uri without scheme", "hosts:\n  - name: a\n    uri: 10.0.0.2\n", []string{`uri "10.0.0.2" is not a libvirt URI`}},
		{"duplicate name", two + "  - name: a\n    uri: test:///default\n", []string{"line 4: hosts[1] (a)", `duplicate name "a"`, "hosts[0] at line 2"}},
		{"duplicate uri", two + "  - name: b\n    uri: qemu:///system\n", []string{"hosts[1] (b)", `is already host "a"`, "counts twice"}},
		{"cpu ratio zero", two + "    cpu_allocation_ratio: 0\n", []string{"hosts[0] (a)", "cpu_allocation_ratio must be > 0 (got 0)", "default 4"}},
		{"ram ratio negative", two + "    ram_allocation_ratio: -1\n", []string{"ram_allocation_ratio must be > 0 (got -1)"}},
		{"ram ratio not a number", two + "    ram_allocation_ratio: .nan\n", []string{"ram_allocation_ratio must be > 0"}},
		{"negative reserve", two + "    reserve_mib: -1\n", []string{"reserve_mib must be >= 0 (got -1)"}},
		{"zero memory cap", two + "    memory_mib: 0\n", []string{"memory_mib must be > 0 (got 0)"}},
		{"negative max_vms", two + "    max_vms: -2\n", []string{"max_vms must be >= 0 (got -2)"}},
		{"negative weight", two + "    weight: -1\n", []string{"weight must be >= 0 (got -1)"}},
		{"not a number", two + "    reserve_mib: lots\n", []string{"line 4", "hosts[0] (a)", `reserve_mib must be a whole number, not "lots"`}},
		{"fraction for a whole number", two + "    max_vms: 1.5\n", []string{`max_vms must be a whole number, not "1.5"`}},
		{"list for a number", two + "    weight: [1]\n", []string{"weight must be a number, not a list"}},
		{"duplicate key", two + "    name: b\n", []string{"name"}},
		{"bad yaml", "hosts:\n  - name: [a\n", []string{"yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseHostsFile([]byte(tt.yaml))
			if !errors.Is(err, ErrInvalidHostsFile) {
				t.Fatalf("err = %v, want ErrInvalidHostsFile", err)
			}
			wantContains(t, err.Error(), tt.want...)
		})
	}
}

func TestLoadHostsFileNamesThePath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts.yaml")
	if err := os.WriteFile(p, []byte("hosts:\n  - name: a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadHostsFile(p)
	if !errors.Is(err, ErrInvalidHostsFile) {
		t.Fatalf("err = %v", err)
	}
	wantContains(t, err.Error(), p, "missing uri")
}
