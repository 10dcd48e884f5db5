package scheduler

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// claimVersion is the claim file format; a reader drops files of another
// version as unreadable.
const claimVersion = 1

// claimSuffix ends every committed claim file; temporary files start with
// a dot and never end in it.
const claimSuffix = ".claim"

// claim is one create in flight: the resources a placement took on a host
// until the VM shows up in the host's inventory. Stored as JSON, one file
// per claim, so writing and releasing are single atomic file operations.
type claim struct {
	Version    int       `json:"version"`
	Host       string    `json:"host"`
	URI        string    `json:"uri"`
	VM         string    `json:"vm"`
	VCPUs      int       `json:"vcpus"`
	MemoryMiB  int       `json:"memory_mib"`
	PinnedCPUs []int     `json:"pinned_cpus,omitempty"`
	Cells      []int     `json:"cells,omitempty"`
	Group      string    `json:"group,omitempty"`
	PID        int       `json:"pid"`
	PIDStart   uint64    `json:"pid_start"`
	Created    time.Time `json:"created"`

	path string // where it was read from
}

func newClaim(pl *Placement, self procID, now time.Time) claim {
	c := claim{
		Version: claimVersion,
		Host:    pl.Host.Name, URI: pl.Host.URI,
		VM: pl.Request.Name, VCPUs: pl.Request.VCPUs, MemoryMiB: pl.Request.MemoryMiB,
		Group: pl.Request.Group,
		PID:   self.pid, PIDStart: self.start,
		Created: now.UTC(),
	}
	if p := pl.Pinning; p != nil {
		c.PinnedCPUs = append([]int(nil), p.VCPUs...)
		c.Cells = append([]int(nil), p.MemoryNodes...)
	}
	return c
}

// vm is the claim as the VM it stands for.
func (c *claim) vm() VM {
	return VM{Name: c.VM, VCPUs: c.VCPUs, MemoryMiB: c.MemoryMiB, PinnedCPUs: c.PinnedCPUs, Cells: c.Cells, Group: c.Group}
}

// on reports whether the claim is for host h: by URI (the same libvirt,
// whatever a hosts file calls it), by name when either has no URI.
func (c *claim) on(h *Host) bool {
	if c.URI != "" && h.URI != "" {
		return c.URI == h.URI
	}
	return c.Host == h.Name
}

// writeClaim commits c to dir: a temporary file, fsynced, renamed into
// place, and the directory fsynced, so a crash leaves either no claim or
// a whole one.
func writeClaim(dir string, c claim) (string, error) {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode claim: %w", err)
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("claim id: %w", err)
	}
	name := fmt.Sprintf("%d-%d-%s%s", c.PID, c.Created.UnixNano(), hex.EncodeToString(rnd[:]), claimSuffix)
	final := filepath.Join(dir, name)
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write claim: %w", err)
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, final)
	}
	if werr != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write claim: %w", werr)
	}
	if err := syncDir(dir); err != nil {
		os.Remove(final)
		return "", fmt.Errorf("write claim: %w", err)
	}
	return final, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readClaims reads every committed claim in dir. Files that cannot be
// used (torn temporaries of a crashed writer, undecodable or foreign
// versions) are returned in junk for the caller, who holds the lock, to
// delete.
func readClaims(dir string) (claims []claim, junk []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read claims: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case e.IsDir() || name == lockName:
			continue
		case strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp"):
			junk = append(junk, path)
			continue
		case !strings.HasSuffix(name, claimSuffix):
			continue
		}
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue // released since the listing
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read claim: %w", err)
		}
		var c claim
		if err := json.Unmarshal(data, &c); err != nil || c.Version != claimVersion {
			junk = append(junk, path)
			continue
		}
		c.path = path
		claims = append(claims, c)
	}
	return claims, junk, nil
}
