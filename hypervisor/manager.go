package hypervisor

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
)

// DefaultStateDir holds one directory per VM (its console log); vm rm
// removes it with the domain.
const DefaultStateDir = "/var/lib/vmctl/vms"

// Timeouts are the named per-operation limits. Each is applied by the
// function that needs it; zero fields take the defaults.
type Timeouts struct {
	// AgentReady bounds create-to-agent-ready. TCG boots take seconds;
	// the default leaves room for a loaded CI machine.
	AgentReady time.Duration
	// Handshake bounds connecting to a running agent, retries included.
	Handshake time.Duration
	// Poweroff bounds the wait for a clean guest poweroff before vm stop
	// falls back to a forced destroy.
	Poweroff time.Duration
	// Call bounds short agent calls (ping, stats, mount).
	Call time.Duration
}

// DefaultTimeouts are tuned for TCG guests on a small host.
var DefaultTimeouts = Timeouts{
	AgentReady: 120 * time.Second,
	Handshake:  5 * time.Second,
	Poweroff:   15 * time.Second,
	Call:       10 * time.Second,
}

func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts
	if t.AgentReady > 0 {
		d.AgentReady = t.AgentReady
	}
	if t.Handshake > 0 {
		d.Handshake = t.Handshake
	}
	if t.Poweroff > 0 {
		d.Poweroff = t.Poweroff
	}
	if t.Call > 0 {
		d.Call = t.Call
	}
	return d
}

// Config configures a Manager.
type Config struct {
	// StateDir is the parent of per-VM directories.
	StateDir string
	// MemoryReserveMiB is host memory vm create never hands to guests, so
	// the host itself (and QEMU's own overhead) keeps room.
	MemoryReserveMiB int
	Timeouts         Timeouts
	// ScratchDir holds scratch disk files. It is not under StateDir
	// because QEMU, running as its own user, must reach the file, and
	// state directories are private.
	ScratchDir string
}

// DefaultMemoryReserveMiB leaves the host room for libvirtd, QEMU's own
// ~90 MiB per VM and the page cache.
const DefaultMemoryReserveMiB = 512

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.ScratchDir == "" {
		c.ScratchDir = DefaultScratchDir
	}
	if !filepath.IsAbs(c.ScratchDir) {
		return fmt.Errorf("%w: scratch dir %q must be absolute", ErrInvalidSpec, c.ScratchDir)
	}
	if !filepath.IsAbs(c.StateDir) {
		return fmt.Errorf("%w: state dir %q must be absolute", ErrInvalidSpec, c.StateDir)
	}
	if c.MemoryReserveMiB < 0 {
		return fmt.Errorf("%w: memory reserve %d MiB must not be negative", ErrInvalidSpec, c.MemoryReserveMiB)
	}
	c.Timeouts = c.Timeouts.withDefaults()
	return nil
}

// Manager runs the VM lifecycle on one Backend.
type Manager struct {
	backend Backend
	cfg     Config
	log     logrus.FieldLogger
	now     func() time.Time
	probe   func() KVMProbe
}

// Option sets a Manager collaborator.
type Option func(*Manager)

// WithLogger sets the logger (default: discard).
func WithLogger(l logrus.FieldLogger) Option { return func(m *Manager) { m.log = l } }

// WithClock injects the clock used for timestamps and durations.
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// WithKVMProbe replaces the KVM usability probe (tests; remote hosts).
func WithKVMProbe(p func() KVMProbe) Option { return func(m *Manager) { m.probe = p } }

// NewManager validates cfg and returns a Manager.
func NewManager(b Backend, cfg Config, opts ...Option) (*Manager, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil backend", ErrInvalidSpec)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	m := &Manager{backend: b, cfg: cfg, log: discard, now: time.Now, probe: ProbeLocalKVM}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Backend returns the manager's backend.
func (m *Manager) Backend() Backend { return m.backend }

// Config returns the validated configuration.
func (m *Manager) Config() Config { return m.cfg }

// StateDir is the per-VM directory for name.
func (m *Manager) StateDir(name string) string { return filepath.Join(m.cfg.StateDir, name) }
