#!/usr/bin/env bash
# The README's demo: installs what it needs, then runs scripts/demo.ts as root.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "demo: needs root for network namespaces: sudo npm run demo" >&2; exit 1; }
bash scripts/setup.sh
[[ -x dist/vif-firewall ]] || npm run build
node scripts/run-ts.mjs scripts/demo.ts
