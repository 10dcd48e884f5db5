#!/usr/bin/env bash
# Fails if any vmctl domain, agent socket or per-VM state is left on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
VMCTL=${VMCTL:-bin/vmctl}
STATE_DIR=${VMCTL_STATE_DIR:-/var/lib/vmctl/vms}
bad=0

vms=$("$VMCTL" vm list -o json)
if [ "$(printf '%s' "$vms" | tr -d '[:space:]')" != "[]" ]; then
  echo "leftover vmctl domains: $vms" >&2; bad=1
fi
if [ -d "$STATE_DIR" ] && [ -n "$(ls -A "$STATE_DIR")" ]; then
  echo "leftover state in $STATE_DIR: $(ls -A "$STATE_DIR")" >&2; bad=1
fi
CLAIMS_DIR=${VMCTL_CLAIMS_DIR:-/var/lib/vmctl/claims}
if [ -d "$CLAIMS_DIR" ] && [ -n "$(ls "$CLAIMS_DIR")" ]; then
  echo "leftover placement claims in $CLAIMS_DIR: $(ls "$CLAIMS_DIR")" >&2; bad=1
fi
SCRATCH_DIR=/var/lib/vmctl/scratch
if [ -d "$SCRATCH_DIR" ] && [ -n "$(ls -A "$SCRATCH_DIR")" ]; then
  echo "leftover scratch disks in $SCRATCH_DIR: $(ls -A "$SCRATCH_DIR")" >&2; bad=1
fi
socks=$(find /var/lib/libvirt/qemu/channel/target -name 'org.vmctl.agent.*' 2>/dev/null || true)
if [ -n "$socks" ]; then
  echo "leftover agent sockets: $socks" >&2; bad=1
fi
[ "$bad" -eq 0 ] && echo "no vmctl domain, socket, claim, scratch disk or state left behind"
exit "$bad"
