// Package guest holds what a program running as /init of a vmctl guest
// needs before it can talk to the host: the early mounts, a console on fds
// 0-2, and the agent's virtio-serial port, found by name and served as a
// sequence of host connections.
//
// cmd/vmctl-agent is its user in the product; the fault suite's hostile
// agent (faults/hostileagent) reaches the host the same way, so that what
// it sends travels the real path.
package guest
