#!/usr/bin/env bash
# Fails if any vmctl domain, agent socket, placement claim, scratch disk or
# per-VM state directory is left on the host.
#
#   check-leftovers.sh --record FILE   write what is there now to FILE
#   check-leftovers.sh [--baseline FILE]
#
# With --baseline only what is not in FILE counts: the tests answer for what
# they made, not for what was on the host before them (an orphan of a killed
# `vmctl job run`, say, which `vmctl gc` lists). What the baseline hides is
# still printed.
set -euo pipefail
cd "$(dirname "$0")/.."
VMCTL=${VMCTL:-bin/vmctl}
STATE_DIR=${VMCTL_STATE_DIR:-/var/lib/vmctl/vms}
CLAIMS_DIR=${VMCTL_CLAIMS_DIR:-/var/lib/vmctl/claims}
SCRATCH_DIR=/var/lib/vmctl/scratch
SOCKET_DIR=/var/lib/libvirt/qemu/channel/target

mode=check baseline=/dev/null
case "${1:-}" in
  --record) mode=record; out=${2:?--record needs a file} ;;
  --baseline) baseline=${2:?--baseline needs a file} ;;
  "") ;;
  *) echo "usage: $0 [--record FILE | --baseline FILE]" >&2; exit 2 ;;
esac

# One "kind name" line per thing found.
inventory() {
  local names
  names=$("$VMCTL" vm list | awk 'NR > 1 && NF { print $1 }') || {
    echo "check-leftovers: vmctl vm list failed" >&2; return 1; }
  for n in $names; do echo "domain $n"; done
  [ -d "$STATE_DIR" ] && for n in $(ls -A "$STATE_DIR"); do echo "state $STATE_DIR/$n"; done
  # The lock file stays: it is the claims directory's, not a claim.
  [ -d "$CLAIMS_DIR" ] && for n in $(ls "$CLAIMS_DIR"); do echo "claim $CLAIMS_DIR/$n"; done
  [ -d "$SCRATCH_DIR" ] && for n in $(ls -A "$SCRATCH_DIR"); do echo "scratch $SCRATCH_DIR/$n"; done
  find "$SOCKET_DIR" -name 'org.vmctl.agent.*' 2>/dev/null | sed 's/^/socket /'
  return 0
}

now=$(inventory | sort -u)
if [ "$mode" = record ]; then
  printf '%s\n' "$now" | sed '/^$/d' >"$out"
  n=$(wc -l <"$out")
  [ "$n" -gt 0 ] && echo "check-leftovers: $n item(s) on the host before the tests (not counted; \`vmctl gc\` lists orphans):" && sed 's/^/  /' "$out"
  exit 0
fi

old=$(sort -u "$baseline")
new=$(comm -23 <(printf '%s\n' "$now" | sed '/^$/d') <(printf '%s\n' "$old" | sed '/^$/d'))
kept=$(comm -12 <(printf '%s\n' "$now" | sed '/^$/d') <(printf '%s\n' "$old" | sed '/^$/d'))
if [ -n "$kept" ]; then
  echo "check-leftovers: present before the tests, not counted:"
  printf '%s\n' "$kept" | sed 's/^/  /'
fi
if [ -n "$new" ]; then
  echo "leftovers (vmctl domain, state directory, placement claim, scratch disk or agent socket):" >&2
  printf '%s\n' "$new" | sed 's/^/  /' >&2
  exit 1
fi
echo "no vmctl domain, socket, claim, scratch disk or state left behind"
