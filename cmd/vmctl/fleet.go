package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/libvirtbackend"
	"github.com/vmctl/vmctl/jobs"
	"github.com/vmctl/vmctl/scheduler"
)

// hostSpecs reads --hosts, or makes a one-host fleet of --connect.
func hostSpecs(c *cli.Context) ([]scheduler.HostSpec, error) {
	if path := c.String("hosts"); path != "" {
		return scheduler.LoadHostsFile(path)
	}
	uri := c.String("connect")
	return []scheduler.HostSpec{{Name: hostName(uri), URI: uri}}, nil
}

// hostName names a --connect host: "local" for this machine's daemon, else
// the URI's host.
func hostName(uri string) string {
	if hypervisor.IsLocalURI(uri) {
		return "local"
	}
	if u, err := url.Parse(uri); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return uri
}

// backendOpener opens libvirt hosts whose reconnections are logged.
func backendOpener(log logrus.FieldLogger) scheduler.Opener {
	return func(ctx context.Context, uri string) (hypervisor.Backend, error) {
		return libvirtbackend.Open(ctx, uri, libvirtbackend.WithLogger(log))
	}
}

func managerConfig(c *cli.Context) hypervisor.Config {
	return hypervisor.Config{StateDir: c.String("state-dir"), MemoryReserveMiB: hypervisor.DefaultMemoryReserveMiB}
}

// openFleet connects to every host. It fails only when no host at all is
// reachable; otherwise unreachable hosts are reported by the commands that
// list them.
func openFleet(c *cli.Context, log *logrus.Logger) (*scheduler.Fleet, error) {
	specs, err := hostSpecs(c)
	if err != nil {
		return nil, err
	}
	f := scheduler.OpenFleet(c.Context, specs, backendOpener(log), managerConfig(c), hypervisor.WithLogger(log))
	var errs []error
	for _, m := range f.Members() {
		if m.Err == nil {
			return f, nil
		}
		errs = append(errs, fmt.Errorf("host %s: %w", m.Spec.Name, m.Err))
	}
	f.Close()
	return nil, errors.Join(errs...)
}

// findVM opens the fleet and finds the host holding name.
func findVM(c *cli.Context, log *logrus.Logger, name string) (*scheduler.Fleet, *scheduler.Member, error) {
	f, err := openFleet(c, log)
	if err != nil {
		return nil, nil, err
	}
	m, _, err := f.Find(c.Context, name)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, m, nil
}

// inventory collects every host of the fleet, then lets the connections go.
func inventory(c *cli.Context, log *logrus.Logger) ([]scheduler.Host, error) {
	f, err := openFleet(c, log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Inventory(c.Context)
}

// vmEnv is what starting VMs for a job or a benchmark takes: the guest
// image, the claim store and the open fleet.
type vmEnv struct {
	img    hypervisor.BootImage
	claims *scheduler.ClaimStore
	fleet  *scheduler.Fleet
}

// openVMEnv loads the default guest image and opens the claims and the
// fleet; the caller closes the fleet.
func openVMEnv(c *cli.Context, log *logrus.Logger) (*vmEnv, error) {
	img, err := loadImage(c)
	if err != nil {
		return nil, err
	}
	claims, err := scheduler.NewClaimStore(c.String("claims-dir"))
	if err != nil {
		return nil, err
	}
	fleet, err := openFleet(c, log)
	if err != nil {
		return nil, err
	}
	return &vmEnv{img: img, claims: claims, fleet: fleet}, nil
}

// provider starts spec's VMs, named for jobID, under the default policy.
func (e *vmEnv) provider(spec *jobs.Spec, jobID string) *jobs.VMProvider {
	return &jobs.VMProvider{Spec: spec, JobID: jobID, Fleet: e.fleet, Claims: e.claims, Policy: scheduler.DefaultPolicy(), Image: e.img}
}
