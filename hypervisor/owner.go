package hypervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vmctl/vmctl/internal/procid"
)

// Owner is the vmctl process whose life a VM's is bound to (a job's
// worker, a benchmark's VM): when that process is gone, so is every reason
// to keep the VM, and `vmctl gc` removes it. A VM without an owner (`vm
// create`) is the user's and gc never removes it.
//
// A process is named for good by its pid, its start time and the boot it
// runs in (see internal/procid), and Host says on which machine: the owner
// of a VM on a remote libvirt host is the process on the machine vmctl ran
// on, which only that machine can check.
type Owner struct {
	PID int `xml:"pid,attr" json:"pid"`
	// Start is the process's start time in clock ticks after boot (0:
	// unknown; then only the pid is checked).
	Start uint64 `xml:"start,attr" json:"start"`
	// Boot is the kernel's boot id when the process ran ("" unknown).
	Boot string `xml:"boot,attr,omitempty" json:"boot,omitempty"`
	// Host is the hostname of the machine the process ran on.
	Host string `xml:"host,attr,omitempty" json:"host,omitempty"`
}

// String is how listings show an owner.
func (o Owner) String() string {
	if o.Host == "" {
		return fmt.Sprintf("pid %d", o.PID)
	}
	return fmt.Sprintf("pid %d on %s", o.PID, o.Host)
}

// SelfOwner names the calling process. Parts that cannot be read stay
// zero and are then not checked (see CheckOwner).
func SelfOwner() *Owner {
	o := &Owner{PID: os.Getpid()}
	if start, err := procid.Start(o.PID); err == nil {
		o.Start = start
	}
	if boot, err := procid.BootID(); err == nil {
		o.Boot = boot
	}
	if h, err := os.Hostname(); err == nil {
		o.Host = h
	}
	return o
}

// OwnerCheck says whether an owner still runs, and why not.
type OwnerCheck func(Owner) (alive bool, reason string)

// CheckOwner is the check against this machine: an owner recorded on
// another machine counts as alive (only that machine can tell), one of an
// earlier boot as dead, otherwise its pid must still run with the same
// start time.
func CheckOwner(o Owner) (bool, string) {
	if h, err := os.Hostname(); err == nil && o.Host != "" && o.Host != h {
		return true, fmt.Sprintf("owner ran on machine %s: only vmctl there can tell whether it still runs", o.Host)
	}
	if o.Boot != "" {
		if boot, err := procid.BootID(); err == nil && boot != o.Boot {
			return false, fmt.Sprintf("owner pid %d ran before this machine rebooted", o.PID)
		}
	}
	if !procid.Alive(o.PID, o.Start) {
		if o.Start != 0 {
			if _, err := procid.Start(o.PID); err == nil {
				return false, fmt.Sprintf("owner pid %d is gone (the pid now belongs to another process)", o.PID)
			}
		}
		return false, fmt.Sprintf("owner pid %d is gone", o.PID)
	}
	return true, fmt.Sprintf("owner pid %d still runs", o.PID)
}

// OwnerFile is written into a VM's state directory right after Create
// makes it, naming the process creating the VM. The domain is defined only
// later, so until then the file is what tells a create in flight from a
// crashed one's leftovers.
const OwnerFile = "owner.json"

// StateOwner is the content of OwnerFile.
type StateOwner struct {
	Owner
	Created time.Time `json:"created"`
}

// WriteStateOwner records the calling process as dir's creator.
func WriteStateOwner(dir string, o *Owner, now time.Time) error {
	data, err := json.Marshal(StateOwner{Owner: *o, Created: now.UTC()})
	if err != nil {
		return fmt.Errorf("encode %s: %w", OwnerFile, err)
	}
	if err := os.WriteFile(filepath.Join(dir, OwnerFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", OwnerFile, err)
	}
	return nil
}

// ReadStateOwner reads dir's OwnerFile. A directory without one (made by a
// vmctl before owner files, or by a create that died right after making
// it) returns an error wrapping fs.ErrNotExist.
func ReadStateOwner(dir string) (StateOwner, error) {
	data, err := os.ReadFile(filepath.Join(dir, OwnerFile))
	if err != nil {
		return StateOwner{}, err
	}
	var so StateOwner
	if err := json.Unmarshal(data, &so); err != nil {
		return StateOwner{}, fmt.Errorf("read %s: %w", filepath.Join(dir, OwnerFile), err)
	}
	if so.PID <= 0 {
		return StateOwner{}, fmt.Errorf("read %s: %w", filepath.Join(dir, OwnerFile), errors.New("no pid"))
	}
	return so, nil
}
