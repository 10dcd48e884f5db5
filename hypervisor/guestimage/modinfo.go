package guestimage

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strings"
)

// moduleInfo is what a module's .modinfo section says about it.
type moduleInfo struct {
	Name    string   // normalised
	Depends []string // normalised, in the order listed
}

// readModinfo reads the name= and depends= fields of a kernel module. The
// Debian package ships no modules.dep, so these fields are the only record
// of dependencies. Name is empty when the module has no name= field.
func readModinfo(r io.ReaderAt) (moduleInfo, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return moduleInfo{}, fmt.Errorf("read module ELF: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return moduleInfo{}, errors.New("read module ELF: no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return moduleInfo{}, fmt.Errorf("read .modinfo: %w", err)
	}
	return parseModinfo(data), nil
}

// parseModinfo parses NUL-separated key=value strings. Padding between
// entries shows up as empty strings and is skipped.
func parseModinfo(data []byte) moduleInfo {
	var info moduleInfo
	for _, field := range bytes.Split(data, []byte{0}) {
		key, value, ok := strings.Cut(string(field), "=")
		if !ok {
			continue
		}
		switch key {
		case "name":
			info.Name = normalizeModule(value)
		case "depends":
			for _, d := range strings.Split(value, ",") {
				if d = strings.TrimSpace(d); d != "" {
					info.Depends = append(info.Depends, normalizeModule(d))
				}
			}
		}
	}
	return info
}

// moduleNameFromPath derives a module name from its file name, for modules
// without name= and for modules we cannot open (unsupported compression).
func moduleNameFromPath(p string) string {
	base := p[strings.LastIndexByte(p, '/')+1:]
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return normalizeModule(base)
}
