package libvirtbackend

import (
	"errors"
	"fmt"

	"libvirt.org/go/libvirt"

	"github.com/vmctl/vmctl/hypervisor"
)

// convert maps libvirt's error codes to hypervisor's sentinels at the edge of
// the adapter. Both the sentinel and the libvirt error stay in the chain:
// errors.Is works on the first, errors.As still finds the second.
func convert(op string, err error) error {
	if err == nil {
		return nil
	}
	var lerr libvirt.Error
	if errors.As(err, &lerr) {
		switch lerr.Code {
		case libvirt.ERR_NO_DOMAIN:
			return fmt.Errorf("%s: %w: %w", op, hypervisor.ErrNotFound, err)
		case libvirt.ERR_DOM_EXIST:
			return fmt.Errorf("%s: %w: %w", op, hypervisor.ErrExists, err)
		case libvirt.ERR_OPERATION_INVALID:
			if lerr.Domain == libvirt.FROM_QEMU || lerr.Domain == libvirt.FROM_DOMAIN {
				return fmt.Errorf("%s: %w: %w", op, hypervisor.ErrNotRunning, err)
			}
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isNoMetadata(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_DOMAIN_METADATA
}

// isConnectionError reports whether err is libvirt saying the connection
// itself failed (its RPC layer, or a connection that is no longer valid),
// as opposed to the operation failing on a live connection.
func isConnectionError(err error) bool {
	var lerr libvirt.Error
	if !errors.As(err, &lerr) {
		return false
	}
	switch lerr.Code {
	case libvirt.ERR_NO_CONNECT, libvirt.ERR_INVALID_CONN, libvirt.ERR_RPC:
		return true
	}
	// "client socket is closed", "Cannot write data", keepalive timeouts:
	// all reported by the RPC layer.
	return lerr.Domain == libvirt.FROM_RPC
}

// isAgain reports a nonblocking stream call that would block. virStreamRecv
// and virStreamSend return -2 without setting an error, which the Go
// binding turns into an Error whose code is ERR_OK.
func isAgain(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == libvirt.ERR_OK
}
