//go:build faults

package faults

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/reap"
)

// Where vmctl and libvirt keep what a VM leaves when it is not cleaned
// up (as scripts/check-leftovers.sh looks for them).
const (
	agentSocketDir = "/var/lib/libvirt/qemu/channel/target"
)

// leftover is one thing a run made that outlived it.
type leftover struct {
	kind string // domain, statedir, claim, scratch, socket, gc:<kind>
	what string // a name or a path
	vm   string // the domain, for kind domain
}

func (l leftover) String() string { return l.kind + " " + l.what }

// leftovers is the suite's one leftover check: everything of this run
// that still exists once the run is over. Other users of the host (other
// runs, other engineers' VMs) are not looked at: a name or path counts
// only if it carries the run's prefix or lies in the run's directories.
func (r *runEnv) leftovers() []leftover {
	r.t.Helper()
	var left []leftover
	res := r.vmctlOnceReachable("-o", "json", "vm", "list")
	var vms []hypervisor.DomainInfo
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &vms) != nil {
		// Not knowing is not "none": the run cannot be said clean.
		left = append(left, leftover{kind: "unknown", what: fmt.Sprintf("vm list failed (exit %d): %s", res.code, strings.TrimSpace(res.stderr))})
	}
	for _, v := range vms {
		if r.ours(v.Name) || r.ours(v.Meta.StateDir) {
			left = append(left, leftover{kind: "domain", what: v.Name + " (" + string(v.State) + ")", vm: v.Name})
		}
	}
	for _, d := range []struct{ kind, dir string }{{"statedir", r.stateDir}, {"claim", r.claimsDir}} {
		entries, _ := os.ReadDir(d.dir)
		for _, e := range entries {
			// The claim store's lock file lives as long as the directory.
			if d.kind == "claim" && strings.HasPrefix(e.Name(), ".") {
				continue
			}
			left = append(left, leftover{kind: d.kind, what: filepath.Join(d.dir, e.Name())})
		}
	}
	scratch, _ := os.ReadDir(hypervisor.DefaultScratchDir)
	for _, e := range scratch {
		if r.ours(e.Name()) {
			left = append(left, leftover{kind: "scratch", what: filepath.Join(hypervisor.DefaultScratchDir, e.Name())})
		}
	}
	socks, _ := filepath.Glob(filepath.Join(agentSocketDir, "domain-*", "*"))
	for _, s := range socks {
		if r.ours(filepath.Base(filepath.Dir(s))) {
			left = append(left, leftover{kind: "socket", what: s})
		}
	}
	return append(left, r.gcLeftovers()...)
}

// gcLeftovers are `vmctl gc`'s findings about this run (a dry run).
func (r *runEnv) gcLeftovers() []leftover {
	if suite.gc == nil {
		return nil
	}
	res := r.vmctl(append([]string{"-o", "json"}, suite.gc...)...)
	var found []reap.Finding
	if err := json.Unmarshal([]byte(res.stdout), &found); err != nil {
		return []leftover{{kind: "unknown", what: fmt.Sprintf("vmctl gc (exit %d): %v: %s", res.code, err, strings.TrimSpace(res.stderr))}}
	}
	var left []leftover
	for _, f := range found {
		if r.ours(f.Name) || r.ours(f.Path) {
			left = append(left, leftover{kind: "gc:" + string(f.Kind), what: fmt.Sprintf("%s %s (%s)", f.Name, f.Path, f.Reason)})
		}
	}
	return left
}

// removeLeftovers clears what leftovers found, so one failed run does not
// spill into the next or onto the host.
func (r *runEnv) removeLeftovers(left []leftover) {
	for _, l := range left {
		switch l.kind {
		case "domain":
			r.vmctlOnceReachable("vm", "rm", l.vm)
		case "statedir", "claim", "scratch":
			_ = os.RemoveAll(l.what)
		}
	}
}
