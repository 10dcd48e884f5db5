#!/usr/bin/env bash
# make-corpus.sh DIR MB [FILES]: writes FILES (default 1) text files of about
# MB megabytes in total into DIR, from real text on this machine: the Go
# standard library's sources and the licenses under /usr/share/common-licenses,
# in a fixed order, so the same host always makes the same corpus.
set -euo pipefail
dir=${1:?usage: make-corpus.sh DIR MB [FILES]}
mb=${2:?usage: make-corpus.sh DIR MB [FILES]}
files=${3:-1}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
goroot=$("$GO" env GOROOT)
mkdir -p "$dir"
want=$((mb * 1000 * 1000 / files))
list=$(mktemp)
trap 'rm -f "$list"' EXIT
{ find /usr/share/common-licenses -type f 2>/dev/null; find "$goroot/src" -name '*.go' -type f; } | LC_ALL=C sort > "$list"
for ((i = 0; i < files; i++)); do
  out="$dir/corpus-$i.txt"
  : > "$out"
  # Start each file at a different place in the list so files differ.
  skip=$((i * 997))
  while [ "$(stat -c %s "$out")" -lt "$want" ]; do
    sed -n "$((skip + 1)),$((skip + 2000))p" "$list" | xargs cat >> "$out"
    skip=$(((skip + 2000) % $(wc -l < "$list")))
  done
  truncate -s "$want" "$out"
  # End on a line boundary: drop the last partial line.
  sed -i '$ d' "$out"
done
ls -l "$dir"
