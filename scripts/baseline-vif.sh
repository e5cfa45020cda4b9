#!/usr/bin/env bash
# The reference the benchmark (npm run bench) compares vif-firewall with: the per-rule bash
# approach of a hand-written Xen vif script. One `iptables` process per rule, in the shape of
# vif-common.sh's frob_iptable, plus vif-bridge's `ip link` steps, and the xenstore traffic
# without which libxl does not see the vif come up (bridge read, hotplug-status written).
#
#   baseline-vif.sh online|offline     (called as libxl calls a vif script: env vif, XENBUS_PATH)
#   BASELINE_PORTS="22 80 443"         TCP ports let in to the guest, one rule each
#
# IPv4 only, no conntrack cleanup, no lock of its own (-w waits for the xtables lock, so
# that parallel calls on iptables-legacy queue instead of failing): that is what such a
# script typically does, and it is the cheapest honest reference for vif-firewall.
set -euo pipefail
# shellcheck source=bench/vif-bridge.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench/vif-bridge.sh"

command=${1:?usage: baseline-vif.sh online|offline}
dev=${vif:?vif is not set (libxl sets it)}
chain="fw-${dev}"

case $command in
  online)
    bridge=$(xenstore-read "$XENBUS_PATH/bridge")
    iptables -w -N "$chain"
    iptables -w -I FORWARD -m physdev --physdev-out "$dev" -j "$chain"
    for port in ${BASELINE_PORTS:-}; do
      iptables -w -A "$chain" -p tcp --dport "$port" -j RETURN
    done
    iptables -w -A "$chain" -m state --state RELATED,ESTABLISHED -j RETURN
    iptables -w -A "$chain" -j DROP
    attach_and_report "$dev" "$bridge"
    ;;
  offline)
    detach "$dev"
    iptables -w -D FORWARD -m physdev --physdev-out "$dev" -j "$chain"
    iptables -w -F "$chain"
    iptables -w -X "$chain"
    ;;
  *)
    echo "baseline-vif.sh: unknown command $command" >&2
    exit 2
    ;;
esac
