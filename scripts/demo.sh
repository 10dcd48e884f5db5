#!/usr/bin/env bash
# The end-to-end demo on the built-in default guest: boot a VM, run a command
# in it, remove it, and show that nothing is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
VMCTL=${VMCTL:-bin/vmctl}
NAME=vmctl-demo-$$

cleanup() { "$VMCTL" vm rm "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== vmctl doctor"
"$VMCTL" doctor

echo "== vmctl vm create $NAME"
"$VMCTL" vm create "$NAME"

echo "== vmctl vm exec $NAME -- uname -r"
"$VMCTL" vm exec "$NAME" -- uname -r

echo "== vmctl vm exec $NAME -- sh -c 'grep -c ^processor /proc/cpuinfo; free -m'"
"$VMCTL" vm exec "$NAME" -- sh -c 'echo "guest CPUs: $(grep -c ^processor /proc/cpuinfo)"; free -m'

echo "== vmctl vm list"
"$VMCTL" vm list

echo "== vmctl vm rm $NAME"
"$VMCTL" vm rm "$NAME"
trap - EXIT

echo "== leftovers"
VMCTL=$VMCTL scripts/check-leftovers.sh
