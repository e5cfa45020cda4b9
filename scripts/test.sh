#!/usr/bin/env bash
# The test command of the README: unit tests anywhere, end-to-end tests in network
# namespaces as root (they skip loudly otherwise). Ends with one line
# `tests: N passed, N failed, N skipped` read from vitest's own JSON report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The end-to-end tests run the bundle, as libxl would: make sure it is the one src/ builds.
npm run --silent build
[[ $(id -u) -eq 0 ]] || echo "test: not root: end-to-end tests will be SKIPPED (run as root: sudo npm test)" >&2

report=$(mktemp /tmp/vif-firewall-vitest.XXXXXX.json)
trap 'rm -f "$report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$report" || { echo "tests: 0 passed, 1 failed"; exit 1; }
exit "$status"
