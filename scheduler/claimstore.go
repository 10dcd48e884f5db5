package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vmctl/vmctl/internal/procid"
)

// Claim store defaults.
const (
	// DefaultClaimsDir holds the claims of every vmctl process on this
	// machine.
	DefaultClaimsDir = "/var/lib/vmctl/claims"
	// DefaultClaimTTL bounds how long a claim counts even if its process
	// still runs: a create that hangs longer stops blocking the host.
	DefaultClaimTTL = 10 * time.Minute
	// DefaultLockPoll is how often a waiting Reserve retries the lock.
	DefaultLockPoll = 20 * time.Millisecond
)

// ClaimStore makes placement safe across vmctl processes. Between Place
// choosing a host and libvirt defining the VM there, the VM is invisible
// to every other process's inventory; a claim file makes it visible. All
// Reserve calls, in any process, serialise on one flock in the directory.
//
// A claim names its process by pid and start time, so the directory must
// be shared only by processes of one pid namespace (not across containers
// with their own): a claim from another namespace looks dead and is
// dropped. A create that outlives the TTL loses its claim the same way;
// raise it with WithClaimTTL if creates can take longer.
type ClaimStore struct {
	dir   string
	now   func() time.Time
	alive func(pid int, start uint64) bool
	ttl   time.Duration
	poll  time.Duration
	self  procID
}

// procID names one process: its pid and its start time.
type procID struct {
	pid   int
	start uint64
}

// ClaimOption configures a ClaimStore.
type ClaimOption func(*ClaimStore)

// WithClock sets the clock used to stamp claims and age them.
func WithClock(now func() time.Time) ClaimOption { return func(s *ClaimStore) { s.now = now } }

// WithClaimTTL sets how long a claim counts at most (default 10 minutes).
func WithClaimTTL(d time.Duration) ClaimOption { return func(s *ClaimStore) { s.ttl = d } }

// WithLockPoll sets how often a waiting Reserve retries the lock.
func WithLockPoll(d time.Duration) ClaimOption { return func(s *ClaimStore) { s.poll = d } }

// WithLiveness replaces the check that a claim's process still runs
// (default: /proc/<pid>/stat exists with the recorded start time).
func WithLiveness(alive func(pid int, start uint64) bool) ClaimOption {
	return func(s *ClaimStore) { s.alive = alive }
}

// NewClaimStore opens (creating, mode 0700) the claims directory; "" means
// DefaultClaimsDir.
func NewClaimStore(dir string, opts ...ClaimOption) (*ClaimStore, error) {
	if dir == "" {
		dir = DefaultClaimsDir
	}
	s := &ClaimStore{dir: dir, now: time.Now, alive: procid.Alive, ttl: DefaultClaimTTL, poll: DefaultLockPoll}
	for _, o := range opts {
		o(s)
	}
	if s.ttl <= 0 || s.poll <= 0 || s.now == nil || s.alive == nil {
		return nil, fmt.Errorf("claim store: ttl and lock poll must be > 0, clock and liveness set")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("claim store: %w", err)
	}
	s.self.pid = os.Getpid()
	if start, err := procid.Start(s.self.pid); err == nil {
		s.self.start = start
	}
	return s, nil
}

// Dir is the claims directory.
func (s *ClaimStore) Dir() string { return s.dir }

// Reserve places req under the store's lock and claims the result.
//
// With the lock held it calls inventory, adds every live claim whose VM is
// not yet in its host's inventory to that host (memory, vCPUs, pinned CPUs,
// group), drops stale claims (process gone, or older than the TTL), runs
// Place and commits a claim for the chosen host. The returned release must
// be called once creation has finished, whether it worked or not (after
// success the VM is in the inventory and the claim no longer needed);
// calling it again does nothing.
//
// Errors: ErrNameExists when a reachable host already has a VM of that
// name, ErrNameClaimed when a live claim on a host of this inventory holds
// it, ErrNoValidHost (with the Placement, for its verdicts) when nothing
// fits, a wrapped ctx.Err() when ctx ends while waiting for the lock. On
// error nothing is claimed.
func (s *ClaimStore) Reserve(ctx context.Context, inventory func(context.Context) ([]Host, error), req Request, pol Policy) (*Placement, func() error, error) {
	if req.Name == "" {
		return nil, nil, fmt.Errorf("%w: a claimed placement needs the VM's name", ErrInvalidRequest)
	}
	if err := req.Validate(); err != nil {
		return nil, nil, err
	}
	if err := pol.Validate(); err != nil {
		return nil, nil, err
	}
	unlock, err := lockFile(ctx, filepath.Join(s.dir, lockName), s.poll)
	if err != nil {
		return nil, nil, fmt.Errorf("reserve %s: %w", req.Name, err)
	}
	defer unlock()

	hosts, err := inventory(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reserve %s: inventory: %w", req.Name, err)
	}
	claims, err := s.liveClaims()
	if err != nil {
		return nil, nil, fmt.Errorf("reserve %s: %w", req.Name, err)
	}
	if err := nameFree(hosts, claims, req.Name); err != nil {
		return nil, nil, err
	}
	hosts = withClaims(hosts, claims)
	pl, err := Place(hosts, req, pol)
	if err != nil {
		return pl, nil, err
	}
	path, err := writeClaim(s.dir, newClaim(pl, s.self, s.now()))
	if err != nil {
		return nil, nil, fmt.Errorf("reserve %s: %w", req.Name, err)
	}
	var once sync.Once
	var relErr error
	release := func() error {
		once.Do(func() {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				relErr = fmt.Errorf("release claim for %s: %w", req.Name, err)
			}
		})
		return relErr
	}
	return pl, release, nil
}

// liveClaims reads the claims and deletes the stale and unreadable ones.
// The caller holds the lock.
func (s *ClaimStore) liveClaims() ([]claim, error) {
	all, junk, err := readClaims(s.dir)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var live []claim
	for _, c := range all {
		if now.Sub(c.Created) > s.ttl || !s.alive(c.PID, c.PIDStart) {
			junk = append(junk, c.path)
			continue
		}
		live = append(live, c)
	}
	for _, p := range junk {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("drop stale claim: %w", err)
		}
	}
	return live, nil
}

// nameFree refuses a name that a reachable host already has, or that a
// live claim holds on any host of this inventory: names are unique across
// a fleet, and two processes must not both create one.
func nameFree(hosts []Host, claims []claim, name string) error {
	for i := range hosts {
		h := &hosts[i]
		if h.Err != "" {
			continue
		}
		for _, vm := range h.VMs {
			if vm.Name == name {
				return fmt.Errorf("vm %s: %w on host %s; pick another name", name, ErrNameExists, h.Name)
			}
		}
		for _, c := range claims {
			if c.VM == name && c.on(h) {
				return fmt.Errorf("vm %s: %w on host %s by pid %d since %s (a create in flight); wait for it or pick another name",
					name, ErrNameClaimed, h.Name, c.PID, c.Created.Local().Format(time.TimeOnly))
			}
		}
	}
	return nil
}

// withClaims returns a copy of hosts with each live claim whose VM the host
// does not list yet counted as one of its VMs. The claimed memory is also
// taken from the host's reported free memory (and, for a pinned claim,
// from its cells), since the VM will use it once it runs.
func withClaims(hosts []Host, claims []claim) []Host {
	out := make([]Host, len(hosts))
	for i := range hosts {
		h := hosts[i]
		h.VMs = append([]VM(nil), h.VMs...)
		h.Cells = append([]Cell(nil), h.Cells...)
		if h.Err == "" {
			for j := range claims {
				c := &claims[j]
				if !c.on(&h) || hasVM(&h, c.VM) {
					continue
				}
				h.VMs = append(h.VMs, c.vm())
				h.MemoryFreeMiB -= c.MemoryMiB
				if len(c.Cells) > 0 {
					share := (c.MemoryMiB + len(c.Cells) - 1) / len(c.Cells)
					for k := range h.Cells {
						if slices.Contains(c.Cells, h.Cells[k].ID) {
							h.Cells[k].FreeMiB -= share
						}
					}
				}
			}
		}
		out[i] = h
	}
	return out
}

func hasVM(h *Host, name string) bool {
	for _, vm := range h.VMs {
		if vm.Name == name {
			return true
		}
	}
	return false
}

// StaleClaim is a claim file nothing will release: its process is gone, or
// the file is torn or unreadable.
type StaleClaim struct {
	Path string
	// VM, Host, PID and Created are empty for an unreadable file.
	VM      string
	Host    string
	PID     int
	Created time.Time
	Reason  string
}

// Stale lists, under the store's lock, the claims whose process no longer
// runs and the files that are not claims any more (a crashed writer's
// temporary, an undecodable file). A live process's claim is never listed,
// however old: it still counts until its TTL, and its process releases it.
func (s *ClaimStore) Stale(ctx context.Context) ([]StaleClaim, error) {
	unlock, err := lockFile(ctx, filepath.Join(s.dir, lockName), s.poll)
	if err != nil {
		return nil, fmt.Errorf("list stale claims: %w", err)
	}
	defer unlock()
	return s.stale()
}

// stale is Stale with the lock held.
func (s *ClaimStore) stale() ([]StaleClaim, error) {
	all, junk, err := readClaims(s.dir)
	if err != nil {
		return nil, err
	}
	var out []StaleClaim
	for _, c := range all {
		if s.alive(c.PID, c.PIDStart) {
			continue
		}
		out = append(out, StaleClaim{Path: c.path, VM: c.VM, Host: c.Host, PID: c.PID, Created: c.Created,
			Reason: fmt.Sprintf("claim for vm %s by pid %d, which is gone", c.VM, c.PID)})
	}
	for _, p := range junk {
		out = append(out, StaleClaim{Path: p, Reason: "torn or unreadable claim file"})
	}
	slices.SortFunc(out, func(a, b StaleClaim) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// RemoveStale removes the claim file at path under the store's lock if it
// is still stale (see Stale). A file already gone is not an error; one
// whose process runs (again: a reused path) is refused.
func (s *ClaimStore) RemoveStale(ctx context.Context, path string) error {
	unlock, err := lockFile(ctx, filepath.Join(s.dir, lockName), s.poll)
	if err != nil {
		return fmt.Errorf("remove stale claim %s: %w", path, err)
	}
	defer unlock()
	stale, err := s.stale()
	if err != nil {
		return fmt.Errorf("remove stale claim %s: %w", path, err)
	}
	for _, c := range stale {
		if c.Path == path {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale claim: %w", err)
			}
			return nil
		}
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("remove stale claim %s: it is not stale (its process runs, or it is not a claim of %s)", path, s.dir)
}
