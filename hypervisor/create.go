package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vmctl/vmctl/agent"
	"github.com/vmctl/vmctl/internal/failpoint"
)

// CreateRequest asks for one VM.
type CreateRequest struct {
	Name      string
	VCPUs     int
	MemoryMiB int
	Accel     Accel
	Shares    []Share
	Image     BootImage
	Profile   BootProfile
	// NoWait returns as soon as the domain is started.
	NoWait          bool
	TBCacheMiB      int
	ExtraKernelArgs string
	Group           string
	GroupPolicy     string
	// Pinning comes from the scheduler; nil lets the VM float.
	Pinning *Pinning
	// Job is recorded in the metadata (see Metadata.Job).
	Job string
	// ScratchMiB adds an empty raw disk of this size as /dev/vda.
	ScratchMiB int
	// KeepAgent hands the connection Create made to the agent to the
	// caller (CreateResult.Agent) instead of closing it.
	KeepAgent bool
	// Owner, when set, binds the VM's life to that vmctl process (see
	// Metadata.Owner): once it is gone, `vmctl gc` removes the VM. Leave
	// it nil for a VM the user keeps (`vm create`).
	Owner *Owner
}

// CreateResult reports what was created and how long it took.
type CreateResult struct {
	Info  DomainInfo
	Accel AccelChoice
	// Ready is create-to-agent-ready (zero with NoWait).
	Ready time.Duration
	// Hello is what the agent said when it answered.
	Hello *AgentHello
	// Agent is the open agent connection when the request set KeepAgent;
	// the caller closes it.
	Agent *agent.Client `json:"-"`
}

// ChooseAccel decides the acceleration for this manager's host: the local
// probe for a local connection, the remote host's capabilities otherwise.
func (m *Manager) ChooseAccel(ctx context.Context, requested Accel) (AccelChoice, error) {
	if IsLocalURI(m.backend.URI()) {
		return ChooseAccel(requested, m.probe())
	}
	h, err := m.backend.Host(ctx)
	if err != nil {
		return AccelChoice{}, fmt.Errorf("choose acceleration: %w", err)
	}
	p := KVMProbe{CPUFlags: h.CPUFlags}
	if !h.KVMDevice {
		p.DeviceErr = errors.New("libvirt reports no kvm domain type on " + h.Hostname)
	}
	return ChooseAccel(requested, p)
}

// Create validates the request, defines and starts the domain and (unless
// NoWait) waits for the agent. On any failure nothing is left behind: the
// domain is destroyed and undefined and its state directory removed.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (res *CreateResult, err error) {
	if req.Profile == "" {
		req.Profile = ProfileFast
	}
	if err := ValidateName(req.Name); err != nil {
		return nil, err
	}
	for _, sh := range req.Shares {
		if err := sh.Validate(); err != nil {
			return nil, err
		}
		if IsLocalURI(m.backend.URI()) {
			if err := CheckQEMUCanRead(sh.HostDir, DefaultQEMUUser); err != nil {
				return nil, err
			}
		}
	}
	if err := req.Image.Check(); err != nil {
		return nil, err
	}
	accel, err := m.ChooseAccel(ctx, req.Accel)
	if err != nil {
		return nil, err
	}
	kernel := req.Image.Kernel
	if req.Profile == ProfileStock {
		kernel = req.Image.BzImage
	}
	spec := &VMSpec{
		Name: req.Name, VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB, Accel: accel,
		Shares: req.Shares, Profile: req.Profile, Kernel: kernel, Initramfs: req.Image.Initramfs,
		ExtraKernelArgs: req.ExtraKernelArgs, TBCacheMiB: req.TBCacheMiB,
		ConsoleLog: m.consoleLogFor(req.Name), Pinning: req.Pinning,
		Meta: Metadata{
			Created: m.now().UTC().Truncate(time.Second), ImageDir: req.Image.Dir,
			StateDir: m.StateDir(req.Name), Shares: req.Shares, Group: req.Group, GroupPolicy: req.GroupPolicy,
			Job: req.Job, Owner: req.Owner,
		},
	}
	if req.ScratchMiB < 0 || req.ScratchMiB > MaxScratchMiB {
		return nil, fmt.Errorf("%w: scratch disk %d MiB: use 0..%d", ErrInvalidSpec, req.ScratchMiB, MaxScratchMiB)
	}
	if req.ScratchMiB > 0 {
		if !IsLocalURI(m.backend.URI()) {
			return nil, fmt.Errorf("%w: scratch disks are files on this machine; host %s is remote: drop the scratch disk or place the VM locally", ErrInvalidSpec, m.backend.URI())
		}
		spec.ScratchDisk = m.scratchPath(req.Name)
		spec.Meta.Scratch = spec.ScratchDisk
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if _, err := m.backend.Lookup(ctx, req.Name); err == nil {
		return nil, fmt.Errorf("create %s: %w; pick another name or `vmctl vm rm %s`", req.Name, ErrExists, req.Name)
	} else if errors.Is(err, ErrNotOwned) {
		return nil, fmt.Errorf("create %s: %w: pick another name", req.Name, Foreign(err, m.backend.URI(), req.Name))
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("create %s: %w", req.Name, err)
	}
	host, err := m.backend.Host(ctx)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", req.Name, err)
	}
	if err := m.checkMemory(host, req.MemoryMiB); err != nil {
		return nil, fmt.Errorf("create %s: %w", req.Name, err)
	}
	spec.TSCKHz = host.TSCKHz
	domXML, err := DomainXML(spec)
	if err != nil {
		return nil, err
	}

	stateDir := m.StateDir(req.Name)
	if err := os.MkdirAll(m.cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: state dir: %w", req.Name, err)
	}
	// Mkdir, not MkdirAll: the directory is the claim on the name among
	// concurrent vmctl processes, and cleanup below must only ever remove
	// a directory this call created.
	if err := os.Mkdir(stateDir, 0o750); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("create %s: %w: state directory %s exists (another vmctl is creating it, or a crashed one left it: `vmctl vm rm %s` cleans up)",
				req.Name, ErrExists, stateDir, req.Name)
		}
		return nil, fmt.Errorf("create %s: state dir: %w", req.Name, err)
	}
	// The owner file tells `vmctl gc` this directory is a create in
	// flight, not a crashed one's leftover, until the domain is defined.
	if err := WriteStateOwner(stateDir, SelfOwner(), m.now()); err != nil {
		os.RemoveAll(stateDir)
		return nil, fmt.Errorf("create %s: %w", req.Name, err)
	}
	if spec.ScratchDisk != "" {
		if err := m.makeScratch(spec.ScratchDisk, req.ScratchMiB); err != nil {
			os.RemoveAll(stateDir)
			return nil, fmt.Errorf("create %s: %w", req.Name, err)
		}
	}
	defined := false
	defer func() {
		if err == nil {
			return
		}
		// The caller's ctx may be what failed; cleanup must still run.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if defined {
			// A domain that stays is named in the error: its create
			// failed, and it must not leak silently.
			derr := m.backend.Destroy(cctx, req.Name)
			if derr != nil && !errors.Is(derr, ErrNotFound) {
				m.log.WithError(derr).Warnf("cleanup: destroy %s", req.Name)
			}
			uerr := m.backend.Undefine(cctx, req.Name)
			if uerr != nil && !errors.Is(uerr, ErrNotFound) {
				m.log.WithError(uerr).Warnf("cleanup: undefine %s", req.Name)
				err = errors.Join(err, LeftVM(m.backend.URI(), req.Name, req.Owner != nil, fmt.Errorf("clean up failed create: %w", errors.Join(derr, uerr))))
				// The state directory goes with the domain, by
				// `vmctl vm rm` or `vmctl gc`.
				return
			}
		}
		if rerr := os.RemoveAll(stateDir); rerr != nil {
			m.log.WithError(rerr).Warnf("cleanup: remove %s", stateDir)
		}
		m.removeScratch(spec.ScratchDisk)
	}()

	start := m.now()
	if err := m.backend.Define(ctx, domXML); err != nil {
		return nil, fmt.Errorf("create %s: %w", req.Name, err)
	}
	defined = true
	if err := m.backend.Start(ctx, req.Name); err != nil {
		return nil, fmt.Errorf("create %s: %w", req.Name, err)
	}
	m.log.WithFields(map[string]any{"vm": req.Name, "accel": accel.Mode, "profile": req.Profile}).Debug("domain started")
	if err := failpoint.Hit(ctx, failpoint.AfterStart); err != nil {
		return nil, err
	}
	res = &CreateResult{Accel: accel}
	// Looked up before the agent's connection opens: on a remote host that
	// connection is a blocking libvirt stream, and another call on the
	// libvirt connection while its read waits hangs (libvirt 9.0 over TCP).
	if res.Info, err = m.backend.Lookup(ctx, req.Name); err != nil {
		return nil, fmt.Errorf("create %s: %w", req.Name, err)
	}
	if !req.NoWait {
		c, werr := m.waitAgent(ctx, req.Name)
		if werr != nil {
			return nil, fmt.Errorf("create %s: %w", req.Name, werr)
		}
		res.Ready = m.now().Sub(start)
		hello := c.Hello()
		res.Hello = &hello
		// err is Create's own result: a failure below closes the
		// connection rather than handing it to a nil result.
		defer func() {
			if req.KeepAgent && err == nil {
				res.Agent = c
				return
			}
			c.Close()
		}()
		if err := m.mountShares(ctx, c, req.Shares); err != nil {
			return nil, fmt.Errorf("create %s: %w", req.Name, err)
		}
	}
	return res, nil
}

func (m *Manager) checkMemory(h HostInfo, memMiB int) error {
	avail := h.MemoryFreeMiB - m.cfg.MemoryReserveMiB
	if memMiB > avail {
		return fmt.Errorf("%w: %d MiB requested, host %s has %d MiB free of which %d MiB is reserved; use a smaller --memory or free memory",
			ErrInsufficientMemory, memMiB, h.Hostname, h.MemoryFreeMiB, m.cfg.MemoryReserveMiB)
	}
	return nil
}

// consoleLogFor is where virtlogd writes the console: a path on the host
// running the domain, so only a local host gets one (a remote host has no
// such directory; its console stays reachable through the stream API).
func (m *Manager) consoleLogFor(name string) string {
	if !IsLocalURI(m.backend.URI()) {
		return ""
	}
	return m.consoleLog(name)
}

func (m *Manager) consoleLog(name string) string {
	return m.StateDir(name) + "/console.log"
}

// ConsoleLog returns the path of a VM's saved serial console output.
func (m *Manager) ConsoleLog(name string) string { return m.consoleLog(name) }
