package hypervisor

import (
	"net/url"
	"strings"
)

// IsLocalURI reports whether a libvirt URI names this machine's daemon, where
// channel sockets, pid files and /dev/kvm are reachable as local paths.
func IsLocalURI(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	if u.Host != "" {
		return false
	}
	for _, t := range []string{"+tcp", "+ssh", "+tls", "+libssh"} {
		if strings.Contains(u.Scheme, t) {
			return false
		}
	}
	return true
}
