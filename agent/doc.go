// Package agent is the protocol between vmctl on the host and the agent
// inside each guest, documented in PROTOCOL.md: length-prefixed JSON
// frames over a virtio-serial port, with requests multiplexed by id.
//
// The host side is Client (Connect, NewClient). The guest side is Serve
// and ServeConn with a Handler; LocalHandler implements exec, stats and
// hello from the machine it runs on, and cmd/vmctl-agent adds mount and
// poweroff.
package agent
