// Package reap finds what vmctl made and nothing owns any more, and
// removes it when asked: `vmctl gc`.
//
// The model is OpenStack Nova's periodic task that reaps "running deleted
// instances": compare what the hypervisor runs with who should own it, and
// act only on what no owner claims. Here the owner is a vmctl process:
//
//   - A domain is an orphan when it carries vmctl's metadata, records an
//     owner (job workers and benchmark VMs do; `vm create` VMs are the
//     user's and never do) and that process is gone: its pid does not run,
//     runs with another start time, or ran before this machine rebooted.
//     Domains without vmctl's metadata are invisible here (the backend
//     hides them) and never touched.
//   - A state directory is an orphan when no reachable host has a domain of
//     its name and the create that made it is over: its owner file names a
//     dead process, or it has none and is older than the grace period.
//   - A scratch disk NAME.raw, when the local host has no domain NAME and
//     no create of NAME is in flight (judged through the state directory
//     as above).
//   - An agent socket (libvirt's channel directory domain-ID-NAME with a
//     file named org.vmctl.agent*) when no local domain of that name runs.
//   - A placement claim whose process is gone (scheduler.ClaimStore.Stale).
//
// Owners and state directories are judged before domains are listed, so a
// create that finishes in between is seen with its domain, never as an
// orphan.
package reap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/scheduler"
)

// Kind is what a finding is.
type Kind string

// The kinds of leftovers, in the order they are listed.
const (
	KindDomain   Kind = "domain"
	KindStateDir Kind = "statedir"
	KindScratch  Kind = "scratch"
	KindSocket   Kind = "socket"
	KindClaim    Kind = "claim"
)

var kindOrder = map[Kind]int{KindDomain: 0, KindStateDir: 1, KindScratch: 2, KindSocket: 3, KindClaim: 4}

// Finding is one leftover. The JSON is `vmctl gc -o json`'s contract:
// every field is always present.
type Finding struct {
	Kind Kind `json:"kind"`
	// Host is the fleet's name of the host (for files: the local host's;
	// for a claim: the host it claimed).
	Host string `json:"host"`
	// Name is the VM's name ("" for an unreadable claim file).
	Name string `json:"name"`
	// Path is the file or directory (a domain's: its state directory).
	Path string `json:"path"`
	// Owner is the process that made it, when known.
	Owner string `json:"owner"`
	// Reason says why it is an orphan.
	Reason string `json:"reason"`
	// Removed and Error are set by Remove.
	Removed bool   `json:"removed"`
	Error   string `json:"error"`
}

// Report is what Scan found.
type Report struct {
	Findings []Finding
	// Skipped says what could not be checked and why (an unreachable
	// host's domains, and what depends on them).
	Skipped []string
}

// Defaults.
const (
	// DefaultChannelDir is where libvirt's system daemon puts each running
	// domain's channel sockets, one directory per domain named
	// domain-ID-NAME (NAME cut to libvirt's short name).
	DefaultChannelDir = "/var/lib/libvirt/qemu/channel/target"
	// DefaultGrace is how old a state directory without an owner file (or a
	// scratch disk without a state directory) must be before it counts as
	// a leftover: a create makes the directory an instant before it writes
	// the owner file, and that instant must not be mistaken for a crash.
	DefaultGrace = 10 * time.Minute
	// AgentSocketPrefix starts the file name of vmctl's agent channel
	// sockets.
	AgentSocketPrefix = "org.vmctl.agent"
	// shortNameMax is how much of a domain's name libvirt keeps in its
	// per-domain directory names (VIR_DOMAIN_SHORT_NAME_MAX in libvirt
	// 9.0: domain-1-abcdefghijklmnopqrst for a longer name).
	shortNameMax = 20
)

// Config says where to look.
type Config struct {
	// Fleet is every host whose domains are checked; unreachable members
	// are reported in Report.Skipped.
	Fleet *scheduler.Fleet
	// Claims, if set, is the placement claim store to check.
	Claims *scheduler.ClaimStore
	// StateDir, ScratchDir and ChannelDir default to
	// hypervisor.DefaultStateDir, hypervisor.DefaultScratchDir and
	// DefaultChannelDir. StateDir must be the fleet's managers' state
	// directory.
	StateDir   string
	ScratchDir string
	ChannelDir string
	// Grace defaults to DefaultGrace.
	Grace time.Duration
}

// Option sets a Reaper collaborator.
type Option func(*Reaper)

// WithClock sets the clock that ages files against the grace period.
func WithClock(now func() time.Time) Option { return func(r *Reaper) { r.now = now } }

// WithOwnerCheck replaces the check that an owner process still runs
// (default hypervisor.CheckOwner).
func WithOwnerCheck(check hypervisor.OwnerCheck) Option {
	return func(r *Reaper) { r.alive = check }
}

// Reaper finds and removes leftovers.
type Reaper struct {
	cfg   Config
	now   func() time.Time
	alive hypervisor.OwnerCheck
}

// New validates cfg and returns a Reaper.
func New(cfg Config, opts ...Option) (*Reaper, error) {
	if cfg.Fleet == nil {
		return nil, errors.New("reap: a fleet is required")
	}
	if cfg.StateDir == "" {
		cfg.StateDir = hypervisor.DefaultStateDir
	}
	if cfg.ScratchDir == "" {
		cfg.ScratchDir = hypervisor.DefaultScratchDir
	}
	if cfg.ChannelDir == "" {
		cfg.ChannelDir = DefaultChannelDir
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Grace < 0 {
		return nil, fmt.Errorf("reap: grace %s must not be negative", cfg.Grace)
	}
	r := &Reaper{cfg: cfg, now: time.Now, alive: hypervisor.CheckOwner}
	for _, o := range opts {
		o(r)
	}
	if r.now == nil || r.alive == nil {
		return nil, errors.New("reap: clock and owner check must be set")
	}
	return r, nil
}

// creation is what a state directory says about the create that made it.
type creation struct {
	path string
	// inFlight: the creator still runs, or the directory is too young to
	// judge; leave it and what it covers alone.
	inFlight bool
	owner    string
	// why is the second half of an orphan's reason.
	why string
}

// Scan lists the leftovers. It changes nothing. An unreachable host is
// reported in Skipped, never fatal; only a failure to read the local
// directories is an error.
func (r *Reaper) Scan(ctx context.Context) (*Report, error) {
	rep := &Report{}
	// Files first, domains after (see the package comment).
	states, err := r.states()
	if err != nil {
		return nil, err
	}
	scratch, err := r.scratchDisks()
	if err != nil {
		return nil, err
	}
	sockets, err := r.sockets()
	if err != nil {
		return nil, err
	}

	// Domains of every host; a name any host has is not a leftover file.
	names := map[string]bool{}
	localDomains := map[string]hypervisor.DomainInfo{}
	allListed, anyLocal := true, false
	for _, m := range r.cfg.Fleet.Members() {
		local := hypervisor.IsLocalURI(m.Spec.URI)
		if m.Err != nil || m.Manager == nil {
			allListed = false
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("host %s is unreachable (%v): its domains were not checked", m.Spec.Name, m.Err))
			continue
		}
		vms, err := m.Manager.List(ctx)
		if err != nil {
			allListed = false
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("host %s: list domains: %v: its domains were not checked", m.Spec.Name, err))
			continue
		}
		anyLocal = anyLocal || local
		for _, vm := range vms {
			names[vm.Name] = true
			if local {
				localDomains[vm.Name] = vm
			}
			if f, ok := r.orphanDomain(m.Spec.Name, vm); ok {
				rep.Findings = append(rep.Findings, f)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}

	local := r.localHost()
	switch {
	case !allListed && len(states) > 0:
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("state directories in %s were not checked: a host that was not listed may hold their domains", r.cfg.StateDir))
	case allListed:
		for name, st := range states {
			if names[name] || st.inFlight {
				continue
			}
			rep.Findings = append(rep.Findings, Finding{Kind: KindStateDir, Host: local, Name: name, Path: st.path, Owner: st.owner,
				Reason: "no domain named " + name + " on any host; " + st.why})
		}
	}
	if !anyLocal && (len(scratch) > 0 || len(sockets) > 0) {
		rep.Skipped = append(rep.Skipped, "scratch disks and agent sockets were not checked: no local host was listed")
	} else if anyLocal {
		for name, path := range scratch {
			// Only local VMs have scratch disks; any host's VM of the
			// name keeps it all the same.
			if names[name] {
				continue
			}
			f := Finding{Kind: KindScratch, Host: local, Name: name, Path: path}
			if st, ok := states[name]; ok {
				if st.inFlight {
					continue
				}
				f.Owner, f.Reason = st.owner, "no local domain named "+name+"; "+st.why
			} else if young, err := r.young(path); err != nil || young {
				continue // a create in flight, or gone since
			} else {
				f.Reason = fmt.Sprintf("no local domain named %s and no state directory; older than %s", name, r.cfg.Grace)
			}
			rep.Findings = append(rep.Findings, f)
		}
		for _, s := range sockets {
			if runningShort(localDomains, s.name) {
				continue
			}
			rep.Findings = append(rep.Findings, Finding{Kind: KindSocket, Host: local, Name: s.name, Path: s.path,
				Reason: "no local domain named " + s.name + " runs"})
		}
	}

	if r.cfg.Claims != nil {
		stale, err := r.cfg.Claims.Stale(ctx)
		if err != nil {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("claims in %s were not checked: %v", r.cfg.Claims.Dir(), err))
		}
		for _, c := range stale {
			f := Finding{Kind: KindClaim, Host: c.Host, Name: c.VM, Path: c.Path, Reason: c.Reason}
			if c.PID > 0 {
				f.Owner = fmt.Sprintf("pid %d", c.PID)
			}
			rep.Findings = append(rep.Findings, f)
		}
	}
	sortFindings(rep.Findings)
	return rep, nil
}

// orphanDomain reports vm when its owner is gone.
func (r *Reaper) orphanDomain(host string, vm hypervisor.DomainInfo) (Finding, bool) {
	o := vm.Meta.Owner
	if o == nil {
		return Finding{}, false
	}
	alive, why := r.alive(*o)
	if alive {
		return Finding{}, false
	}
	owner := o.String()
	if vm.Meta.Job != "" {
		owner += ", job " + vm.Meta.Job
	}
	return Finding{Kind: KindDomain, Host: host, Name: vm.Name, Path: vm.Meta.StateDir, Owner: owner, Reason: why}, true
}

// localHost names the fleet's local host, for files on this machine.
func (r *Reaper) localHost() string {
	for _, m := range r.cfg.Fleet.Members() {
		if hypervisor.IsLocalURI(m.Spec.URI) {
			return m.Spec.Name
		}
	}
	return "local"
}

// states judges every state directory's create.
func (r *Reaper) states() (map[string]creation, error) {
	entries, err := readDir(r.cfg.StateDir)
	if err != nil {
		return nil, err
	}
	out := map[string]creation{}
	for _, e := range entries {
		if !e.IsDir() || hypervisor.ValidateName(e.Name()) != nil {
			continue
		}
		path := filepath.Join(r.cfg.StateDir, e.Name())
		st := creation{path: path}
		so, err := hypervisor.ReadStateOwner(path)
		switch {
		case err == nil:
			st.owner = so.Owner.String()
			alive, why := r.alive(so.Owner)
			st.inFlight, st.why = alive, "its creator is gone ("+why+")"
		default: // no owner file, or an unreadable one
			young, serr := r.young(path)
			if serr != nil {
				continue // removed since the listing
			}
			st.inFlight, st.why = young, fmt.Sprintf("no owner file, and older than %s", r.cfg.Grace)
		}
		out[e.Name()] = st
	}
	return out, nil
}

// scratchDisks maps VM names to their scratch disk files.
func (r *Reaper) scratchDisks() (map[string]string, error) {
	entries, err := readDir(r.cfg.ScratchDir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".raw")
		if !ok || !e.Type().IsRegular() || hypervisor.ValidateName(name) != nil {
			continue
		}
		out[name] = filepath.Join(r.cfg.ScratchDir, e.Name())
	}
	return out, nil
}

type socket struct {
	// name is the domain's name as libvirt cut it (shortNameMax).
	name, path string
}

// sockets lists vmctl's agent sockets in libvirt's channel directory.
func (r *Reaper) sockets() ([]socket, error) {
	dirs, err := readDir(r.cfg.ChannelDir)
	if err != nil {
		return nil, err
	}
	var out []socket
	for _, d := range dirs {
		name, ok := channelDomain(d.Name())
		if !d.IsDir() || !ok {
			continue
		}
		dir := filepath.Join(r.cfg.ChannelDir, d.Name())
		files, err := readDir(dir)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if strings.HasPrefix(f.Name(), AgentSocketPrefix) {
				out = append(out, socket{name: name, path: filepath.Join(dir, f.Name())})
			}
		}
	}
	return out, nil
}

// channelDomain parses libvirt's per-domain directory name domain-ID-NAME.
func channelDomain(dir string) (string, bool) {
	rest, ok := strings.CutPrefix(dir, "domain-")
	if !ok {
		return "", false
	}
	id, name, ok := strings.Cut(rest, "-")
	if !ok || id == "" || name == "" || strings.Trim(id, "0123456789") != "" {
		return "", false
	}
	return name, true
}

// runningShort reports whether a local domain whose libvirt short name is
// short still has a QEMU process (so its sockets are in use). A shortened
// name may match several domains: any of them running keeps the socket.
func runningShort(domains map[string]hypervisor.DomainInfo, short string) bool {
	for name, d := range domains {
		if shortName(name) != short {
			continue
		}
		switch d.State {
		case hypervisor.StateShutoff, hypervisor.StateCrashed:
		default:
			return true
		}
	}
	return false
}

func shortName(name string) string {
	if len(name) > shortNameMax {
		return name[:shortNameMax]
	}
	return name
}

// young reports whether path changed within the grace period.
func (r *Reaper) young(path string) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return r.now().Sub(fi.ModTime()) < r.cfg.Grace, nil
}

// readDir lists dir; a directory that does not exist is empty.
func readDir(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return entries, nil
}

func sortFindings(fs []Finding) {
	sort.Slice(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Kind != b.Kind {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Path < b.Path
	})
}

// Filter keeps the findings for the named VMs (all when names is empty).
func Filter(fs []Finding, names []string) []Finding {
	if len(names) == 0 {
		return fs
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := []Finding{}
	for _, f := range fs {
		if want[f.Name] || (f.Kind == KindSocket && wantShort(want, f.Name)) {
			out = append(out, f)
		}
	}
	return out
}

func wantShort(want map[string]bool, short string) bool {
	for n := range want {
		if shortName(n) == short {
			return true
		}
	}
	return false
}
