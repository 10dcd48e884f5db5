#!/usr/bin/env bash
# The end-to-end demo on the built-in default guest: a VM's lifecycle, then
# the main job on an autoscaled pool (a burst of 64 CPU-bound partitions:
# the pool grows from one VM as far as more VMs help, then shrinks), with
# its summary and a timeline picture in bin/demo-timeline.svg; then a 50 MB
# word count in 4 partitions over 2 VMs checked against the same job run
# natively, with the in-VM/native throughput ratio.
# Nothing is left behind: no domain, socket, claim or temporary file.
set -euo pipefail
cd "$(dirname "$0")/.."
VMCTL=${VMCTL:-bin/vmctl}
NAME=vmctl-demo-$$
WORK=$(mktemp -d /tmp/vmctl-demo.XXXXXX)
chmod 755 "$WORK" # QEMU runs as its own user and reads the inputs over 9p

# The demo answers for what it makes, not for what was on the host before.
BASELINE=$(mktemp /tmp/vmctl-demo-baseline.XXXXXX)

cleanup() {
  "$VMCTL" vm rm "$NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap 'cleanup; rm -f "$BASELINE"' EXIT
VMCTL=$VMCTL scripts/check-leftovers.sh --record "$BASELINE"

echo "== vmctl doctor"
"$VMCTL" doctor

echo "== vmctl vm create $NAME"
"$VMCTL" vm create "$NAME"
"$VMCTL" vm exec "$NAME" -- sh -c 'echo "guest kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU"; free -m'
"$VMCTL" vm rm "$NAME"

echo "== the main job: primes below 1.6e10 in 64 partitions on an autoscaled pool (1 to 4 VMs, one warm)"
sed 's/^    max: 4$/    max: 4\n    warm: 1/' testdata/jobs/primes-autoscale.yaml > "$WORK/burst.yaml"
"$VMCTL" --log-level info job run "$WORK/burst.yaml" --dir "$WORK/burst" --timeline bin/demo-timeline.svg 2>&1 |
  grep -v 'level=debug' | sed -e 's/^time="[^"]*" level=info msg=/  autoscaler: /'
grep -q '"value": 712799821' "$WORK/burst/result.json" || { echo "wrong result: $(cat "$WORK/burst/result.json")" >&2; exit 1; }
echo "checked: 712799821 primes below 1.6e10"
echo "timeline picture: bin/demo-timeline.svg"

echo "== word count over 50 MB of text, 4 partitions on 2 VMs, against native"
scripts/make-corpus.sh "$WORK/corpus" 50 2 >/dev/null
cat > "$WORK/wordcount.yaml" <<SPEC
name: demo-wordcount
vm: {vcpus: 1, memory_mib: 256}
pool: {size: 2}
inputs: corpus
workload: {builtin: wordcount}
partition: {by: bytes, count: 4}
reduce: sum
timeout: 10m
SPEC
"$VMCTL" job run "$WORK/wordcount.yaml" --dir "$WORK/job" --compare-native
echo "top words:"
head -5 "$WORK/job/counts.tsv"

trap 'rm -f "$BASELINE"' EXIT
cleanup
echo "== leftovers"
VMCTL=$VMCTL scripts/check-leftovers.sh --baseline "$BASELINE"
