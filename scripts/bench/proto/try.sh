#!/usr/bin/env bash
# Builds the hook from a COPY of src/ with proposed patches applied in order, leaving src/
# and dist/ alone, so that the bench can measure a fix before it is made:
#
#   bash scripts/bench/proto/try.sh OUTFILE p1 [p2 p3 p4]       (patches: scripts/bench/proto/pN-*.patch)
#   sudo node scripts/run-ts.mjs scripts/bench/compare.ts fixed=OUTFILE --backends nft,legacy --m 1,1000
#   sudo npm run bench -- --hook OUTFILE
#
# The patches were made against src/ as of the bench's commit; a src/ that moved on may need them redone.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${1:?usage: try.sh OUTFILE p1 [p2 p3 p4]}
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$root/src" "$tmp/src"
for p in "$@"; do
  file=$(ls "$root"/scripts/bench/proto/"$p"-*.patch)
  (cd "$tmp" && git apply "$file")
  echo "try: applied $(basename "$file")" >&2
done
node "$root/scripts/bench/proto/build.mjs" "$tmp/src" "$out"
echo "try: built $out" >&2
