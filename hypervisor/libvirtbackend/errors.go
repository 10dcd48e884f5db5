package libvirtbackend

import (
	"errors"
	"fmt"

	"libvirt.org/go/libvirt"

	"github.com/vmctl/vmctl/hypervisor"
)

// convert maps libvirt's error codes to hypervisor's sentinels at the edge of
// the adapter, keeping the libvirt error in the chain for its message.
func convert(op string, err error) error {
	if err == nil {
		return nil
	}
	var lerr libvirt.Error
	if errors.As(err, &lerr) {
		switch lerr.Code {
		case libvirt.ERR_NO_DOMAIN:
			return fmt.Errorf("%s: %w: %s", op, hypervisor.ErrNotFound, lerr.Message)
		case libvirt.ERR_DOM_EXIST:
			return fmt.Errorf("%s: %w: %s", op, hypervisor.ErrExists, lerr.Message)
		case libvirt.ERR_OPERATION_INVALID:
			if lerr.Domain == libvirt.FROM_QEMU || lerr.Domain == libvirt.FROM_DOMAIN {
				return fmt.Errorf("%s: %w: %s", op, hypervisor.ErrNotRunning, lerr.Message)
			}
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isNoMetadata(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_DOMAIN_METADATA
}
