package scheduler

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// HostSpec is one entry of the hosts file: a name, a libvirt URI and the
// optional per-host limits.
type HostSpec struct {
	Name   string `yaml:"name"`
	URI    string `yaml:"uri"`
	Limits `yaml:",inline"`
}

// hostsFile is the file's top level.
type hostsFile struct {
	Hosts []HostSpec `yaml:"hosts"`
}

// LoadHostsFile reads and validates the hosts file at path (see
// ParseHostsFile for the format).
func LoadHostsFile(path string) ([]HostSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read hosts file: %w", err)
	}
	specs, err := ParseHostsFile(data)
	if err != nil {
		return nil, fmt.Errorf("hosts file %s: %w", path, err)
	}
	return specs, nil
}

// ParseHostsFile parses a hosts file: YAML with a top-level `hosts:` list,
// each entry a name, a libvirt uri and optional limits
// (testdata/hosts/example.yaml shows every field). Errors wrap
// ErrInvalidHostsFile and name the line, the host and the fix.
func ParseHostsFile(data []byte) ([]HostSpec, error) {
	// A first pass over the node tree finds unknown keys, so the error can
	// say which entry, which key, and what was probably meant; the strict
	// decoder below stays as the backstop for everything else (types).
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHostsFile, err)
	}
	lines, err := checkHostsKeys(&doc)
	if err != nil {
		return nil, err
	}
	var f hostsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHostsFile, err)
	}
	if len(f.Hosts) == 0 {
		return nil, fmt.Errorf("%w: no hosts: the file needs a top-level `hosts:` list with at least one entry (name and uri)", ErrInvalidHostsFile)
	}
	names := map[string]int{}
	uris := map[string]int{}
	for i := range f.Hosts {
		h := &f.Hosts[i]
		h.Name, h.URI = strings.TrimSpace(h.Name), strings.TrimSpace(h.URI)
		where := fmt.Sprintf("line %d: hosts[%d]", lineOf(lines, i), i)
		if h.Name != "" {
			where += " (" + h.Name + ")"
		}
		switch {
		case h.Name == "":
			return nil, fmt.Errorf("%w: %s: missing name: give every host a unique name, e.g. `name: h%d`", ErrInvalidHostsFile, where, i+1)
		case strings.ContainsAny(h.Name, " \t\n/"):
			return nil, fmt.Errorf("%w: %s: name %q has spaces or slashes: use letters, digits, '-', '_' or '.'", ErrInvalidHostsFile, where, h.Name)
		case h.URI == "":
			return nil, fmt.Errorf("%w: %s: missing uri: give the libvirt URI, e.g. `uri: qemu:///system` or `uri: qemu+tcp://10.0.0.2/system`", ErrInvalidHostsFile, where)
		}
		if u, err := url.Parse(h.URI); err != nil || u.Scheme == "" {
			return nil, fmt.Errorf("%w: %s: uri %q is not a libvirt URI: expected e.g. qemu:///system or qemu+ssh://host/system", ErrInvalidHostsFile, where, h.URI)
		}
		if j, dup := names[h.Name]; dup {
			return nil, fmt.Errorf("%w: %s: duplicate name %q (also hosts[%d] at line %d): names must be unique", ErrInvalidHostsFile, where, h.Name, j, lineOf(lines, j))
		}
		if j, dup := uris[h.URI]; dup {
			return nil, fmt.Errorf("%w: %s: uri %q is already host %q (line %d): one entry per libvirt host, or its capacity counts twice", ErrInvalidHostsFile, where, h.URI, f.Hosts[j].Name, lineOf(lines, j))
		}
		names[h.Name], uris[h.URI] = i, i
		if err := h.Limits.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidHostsFile, where, err)
		}
	}
	return f.Hosts, nil
}

// lineOf is the line of host entry i, 0 if unknown.
func lineOf(lines []int, i int) int {
	if i < len(lines) {
		return lines[i]
	}
	return 0
}
