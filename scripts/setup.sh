#!/usr/bin/env bash
# Installs what building, testing and the demo need: Debian packages (as root, when
# missing) and node_modules (npm ci, when missing or stale). Says what is missing otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

# command → Debian package
declare -A NEED=(
  [iptables-restore]=iptables [ip]=iproute2 [nc]=netcat-openbsd [conntrack]=conntrack
  [modprobe]=kmod [ping]=iputils-ping [flock]=util-linux [logger]=bsdutils [sysctl]=procps [nft]=nftables
  [ebtables]=ebtables    # the benchmark only: its same-protection reference (scripts/baseline-same.sh)
  [scapy]=python3-scapy  # tests only: crafted frames (test/support/frames.py)
  [systemd-analyze]=systemd  # tests only: systemd-analyze verify of packaging/*.service
  [ipset]=ipset [dpkg-deb]=dpkg
  [man]=man-db [groff]=groff-base  # the package test renders the manual pages (man --warnings)
  [lintian]=lintian                # the package test lints the .deb
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]} (as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

command -v node >/dev/null || { echo "setup: Node.js >= 20 is needed to build and test (apt-get install nodejs)" >&2; exit 1; }
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json || -n "${CI:-}" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
