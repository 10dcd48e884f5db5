#!/usr/bin/env bash
# Runs every test: vet, unit tests, a short fuzz of the frame decoder, then
# the integration tests that boot real guests through libvirt (TCG here),
# then the fault suite (make test-faults; REPEAT=N for soaks). Integration
# and fault tests fail, never skip, when libvirt or the image is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

# What is on the host before the tests is not theirs to answer for.
baseline=$(mktemp /tmp/vmctl-leftovers-baseline.XXXXXX)
trap 'rm -f "$baseline"' EXIT
scripts/check-leftovers.sh --record "$baseline"

echo "== go vet"
"$GO" vet ./...
"$GO" vet -tags integration ./...
"$GO" vet -tags faults ./faults/...

echo "== unit tests"
"$GO" test -count=1 ./...

echo "== fuzz (frame decoder, 15 s)"
"$GO" test -run '^$' -fuzz '^FuzzReadFrame$' -fuzztime 15s ./agent

echo "== integration tests (real guests)"
set +e
VMCTL_BIN="$PWD/bin" "$GO" test -tags integration -count=1 -timeout 40m -v ./... 2>&1 | tee /tmp/vmctl-integration.log
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "integration tests failed (exit $rc)" >&2
  exit "$rc"
fi

echo "== leftovers"
scripts/check-leftovers.sh --baseline "$baseline"

echo "== fault suite (real guests; table at the end)"
set +e
"${MAKE:-make}" --no-print-directory test-faults REPEAT="${REPEAT:-1}" 2>&1 | tee /tmp/vmctl-faults.log
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "fault suite failed (exit $rc); table in bin/faults-table.txt" >&2
  exit "$rc"
fi
scripts/check-leftovers.sh --baseline "$baseline"
