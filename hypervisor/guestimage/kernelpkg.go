package guestimage

import (
	"fmt"
	"os"
)

// debControl holds the control-file fields recorded in the manifest.
type debControl struct {
	Package      string
	Version      string
	Architecture string
}

// packagedModule is a module found in the package. Its bytes sit in the
// spill file at [off, off+size).
type packagedModule struct {
	Path      string
	Info      moduleInfo
	off, size int64
}

// kernelPackage is what one pass over a kernel .deb yields: the bzImage and
// config written out, and every module's modinfo with its bytes spilled to
// scratch.
//
// Every module is kept because a dependency can come before the module that
// needs it in the archive, and an xz stream cannot be rewound: keeping them
// all costs disk (about 400 MB for Debian's generic kernel, removed when the
// build ends) instead of a second 5 s decompression pass.
type kernelPackage struct {
	Control    debControl
	Release    string
	BzImage    string
	ConfigPath string
	Config     []byte
	Builtin    map[string]bool
	Modules    map[string]packagedModule
	// Unsupported maps modules we could not open (e.g. .ko.zst) to their
	// path, so that needing one gives a precise error.
	Unsupported map[string]string
	// SHA256 is the digest of the .deb bytes actually read.
	SHA256 string

	spill *os.File
}

// Close releases the spill file; the caller removes the scratch dir.
func (p *kernelPackage) Close() error {
	if p.spill == nil {
		return nil
	}
	err := p.spill.Close()
	p.spill = nil
	return err
}

// moduleData returns a module's (decompressed) bytes.
func (p *kernelPackage) moduleData(name string) ([]byte, error) {
	m, ok := p.Modules[name]
	if !ok {
		if path, ok := p.Unsupported[name]; ok {
			return nil, fmt.Errorf("module %s (%s): %w", name, path, ErrUnsupportedCompression)
		}
		return nil, fmt.Errorf("module %s: %w", name, ErrModuleNotFound)
	}
	buf := make([]byte, m.size)
	if _, err := p.spill.ReadAt(buf, m.off); err != nil {
		return nil, fmt.Errorf("read spilled module %s: %w", name, err)
	}
	return buf, nil
}

// moduleInfos returns the modinfo of every packaged module, for resolution.
// Modules we cannot open are included without dependencies so that needing
// one fails in moduleData with ErrUnsupportedCompression, not as "not found".
func (p *kernelPackage) moduleInfos() map[string]moduleInfo {
	infos := make(map[string]moduleInfo, len(p.Modules)+len(p.Unsupported))
	for name := range p.Unsupported {
		infos[name] = moduleInfo{Name: name}
	}
	for name, m := range p.Modules {
		infos[name] = m.Info
	}
	return infos
}
