#!/usr/bin/env bash
# The second reference of the benchmark (npm run bench): the protection vif-firewall gives,
# built the per-rule way, one process per rule, as a hand-written Xen vif script would:
#   - the same K rules for IPv4 and IPv6 (`iptables` and `ip6tables`), in a chain per guest and
#     direction, with state, DHCP and neighbour discovery let through, everything else dropped;
#   - MAC, IP and ARP anti-spoofing with `ebtables`, one rule at a time (the guest's MAC, the
#     addresses of xenstore `ip` when set, no rogue DHCP server or router, only ARP/IPv4/IPv6);
#   - vif-bridge's `ip link` steps, xenstore read (bridge, mac, ip) and hotplug-status written.
#
#   baseline-same.sh online|offline     (called as libxl calls a vif script: env vif, XENBUS_PATH)
#   BASELINE_PORTS="22 80 443"          TCP ports let in to the guest, one rule each per family
#
# No lock of its own: -w (iptables) and --concurrent (ebtables) wait for the tools' own locks.
set -euo pipefail
# shellcheck source=bench/vif-bridge.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench/vif-bridge.sh"

command=${1:?usage: baseline-same.sh online|offline}
dev=${vif:?vif is not set (libxl sets it)}
in="fwi-${dev}"
out="fwo-${dev}"
eb="as-${dev}"

both() { iptables -w "$@"; ip6tables -w "$@"; }

case $command in
  online)
    bridge=$(xenstore-read "$XENBUS_PATH/bridge")
    mac=$(xenstore-read "$XENBUS_PATH/mac")
    ip=$(xenstore-read "$XENBUS_PATH/ip" 2>/dev/null || true)
    both -N "$in"
    both -N "$out"
    both -I FORWARD -m physdev --physdev-out "$dev" --physdev-is-bridged -j "$in"
    both -I FORWARD -m physdev --physdev-in "$dev" -j "$out"
    both -I INPUT -m physdev --physdev-in "$dev" -j "$out"
    both -A "$in" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    both -A "$out" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    both -A "$in" -m conntrack --ctstate INVALID -j DROP
    iptables -w -A "$out" -p udp --sport 68 --dport 67 -j ACCEPT
    ip6tables -w -A "$out" -p udp --sport 546 --dport 547 -j ACCEPT
    for t in neighbour-solicitation neighbour-advertisement router-solicitation; do
      ip6tables -w -A "$in" -p ipv6-icmp --icmpv6-type "$t" -j ACCEPT
      ip6tables -w -A "$out" -p ipv6-icmp --icmpv6-type "$t" -j ACCEPT
    done
    for port in ${BASELINE_PORTS:-}; do
      both -A "$in" -p tcp --dport "$port" -j ACCEPT
    done
    both -A "$in" -j DROP
    both -A "$out" -j ACCEPT
    # Anti-spoofing, on the frames the guest sends (bridged, or to dom0).
    ebtables --concurrent -N "$eb"
    ebtables --concurrent -A FORWARD -i "$dev" -j "$eb"
    ebtables --concurrent -A INPUT -i "$dev" -j "$eb"
    ebtables --concurrent -A "$eb" -s ! "$mac" -j DROP
    ebtables --concurrent -A "$eb" -p ARP --arp-mac-src ! "$mac" -j DROP
    ebtables --concurrent -A "$eb" -p IPv4 --ip-proto udp --ip-sport 67 -j DROP
    ebtables --concurrent -A "$eb" -p IPv6 --ip6-proto udp --ip6-sport 547 -j DROP
    ebtables --concurrent -A "$eb" -p IPv6 --ip6-proto ipv6-icmp --ip6-icmp-type router-advertisement -j DROP
    for a in $ip; do
      case $a in
        *:*) ebtables --concurrent -A "$eb" -p IPv6 --ip6-src "$a" -j RETURN ;;
        *) ebtables --concurrent -A "$eb" -p IPv4 --ip-src "$a" -j RETURN
           ebtables --concurrent -A "$eb" -p ARP --arp-ip-src "$a" -j RETURN ;;
      esac
    done
    if [[ -n $ip ]]; then
      ebtables --concurrent -A "$eb" -p IPv4 --ip-src 0.0.0.0 -j RETURN
      ebtables --concurrent -A "$eb" -p IPv6 --ip6-src fe80::/10 -j RETURN
      ebtables --concurrent -A "$eb" -p IPv6 --ip6-src :: -j RETURN
      for p in IPv4 ARP IPv6; do ebtables --concurrent -A "$eb" -p "$p" -j DROP; done
    else
      for p in IPv4 ARP IPv6; do ebtables --concurrent -A "$eb" -p "$p" -j RETURN; done
    fi
    ebtables --concurrent -A "$eb" -j DROP
    attach_and_report "$dev" "$bridge"
    ;;
  offline)
    detach "$dev"
    both -D FORWARD -m physdev --physdev-out "$dev" --physdev-is-bridged -j "$in"
    both -D FORWARD -m physdev --physdev-in "$dev" -j "$out"
    both -D INPUT -m physdev --physdev-in "$dev" -j "$out"
    both -F "$in"
    both -F "$out"
    both -X "$in"
    both -X "$out"
    ebtables --concurrent -D FORWARD -i "$dev" -j "$eb"
    ebtables --concurrent -D INPUT -i "$dev" -j "$eb"
    ebtables --concurrent -F "$eb"
    ebtables --concurrent -X "$eb"
    ;;
  *)
    echo "baseline-same.sh: unknown command $command" >&2
    exit 2
    ;;
esac
