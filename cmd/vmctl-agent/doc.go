// Command vmctl-agent is the guest side of vmctl's agent protocol (see
// agent/PROTOCOL.md). It is built static (CGO_ENABLED=0) and runs as /init
// of the initramfs vmctl's image builder makes:
//
//	/init                 this binary
//	/bin/busybox          plus applet symlinks in /bin (/bin/sh must exist)
//	/modules/*.ko         kernel modules (optionally .ko.xz/.ko.zst/.ko.gz)
//	/modules/load-order   one module file name per line, dependencies first
//
// As PID 1 it mounts /proc, /sys, /dev (devtmpfs), /tmp and /run, loads
// the modules, finds the virtio-serial port named org.vmctl.agent.0, reaps
// orphans and serves the host forever.
//
// Run by hand (not PID 1) it serves on --port DEVICE, on --listen
// unix:PATH, or on the port found by --name; there it exits on SIGINT or
// SIGTERM. The unix mode lets the agent be tested on a host.
//
// "vmctl-agent builtin NAME [--flag value ...]" runs one of the built-in
// workloads of package workload and prints its JSON result. In a guest the
// host runs it as "/init builtin ..." through the agent; on the host it is
// the native baseline, the same code on the same inputs.
package main
