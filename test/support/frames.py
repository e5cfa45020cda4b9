#!/usr/bin/python3
"""Crafted frames for the anti-spoofing tests (Debian's python3-scapy).

  frames.py send IFACE KIND[,KIND...] ADDR  send each KIND twice from IFACE, with IFACE's own MAC;
                                            ADDR is the IPv4 address a dhcp-offer comes from, or the
                                            address a garp (IPv4) or an na (IPv6) claims
  frames.py sniff IFACE SECONDS  print, one per line, the KINDs seen on IFACE within SECONDS

KINDs: dhcp-discover (0.0.0.0:68 -> 255.255.255.255:67), dhcp-offer (a server reply, sport 67),
dhcpv6-reply (sport 547), router-advertisement, garp (a gratuitous ARP: ADDR is at IFACE's MAC), na (an unsolicited neighbour
advertisement, override flag set: ADDR is at IFACE's MAC).
"""
import sys
import logging

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import (ARP, BOOTP, DHCP, DHCP6_Reply, ICMPv6ND_NA, ICMPv6ND_RA, ICMPv6NDOptDstLLAddr, IP, IPv6, UDP, Ether, get_if_hwaddr,  # noqa: E402
                       sendp, sniff)
from scapy.utils6 import in6_mactoifaceid  # noqa: E402


def frame(kind, iface):
    mac = get_if_hwaddr(iface)
    ll = "fe80::" + in6_mactoifaceid(mac).lower()
    if kind == "dhcp-discover":
        return (Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
                / UDP(sport=68, dport=67) / BOOTP(op=1, chaddr=bytes.fromhex(mac.replace(":", "")))
                / DHCP(options=[("message-type", "discover"), "end"]))
    if kind == "dhcp-offer":
        return (Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src=sys.argv[4], dst="255.255.255.255")
                / UDP(sport=67, dport=68) / BOOTP(op=2) / DHCP(options=[("message-type", "offer"), "end"]))
    if kind == "dhcpv6-reply":
        return Ether(src=mac, dst="33:33:00:01:00:02") / IPv6(src=ll, dst="ff02::1:2") / UDP(sport=547, dport=546) / DHCP6_Reply()
    if kind == "router-advertisement":
        return Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=ll, dst="ff02::1") / ICMPv6ND_RA()
    if kind == "garp":
        return Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=sys.argv[4], pdst=sys.argv[4])
    if kind == "na":
        return (Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=ll, dst="ff02::1", hlim=255)
                / ICMPv6ND_NA(tgt=sys.argv[4], R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=mac))
    raise SystemExit(f"unknown kind {kind}")


def kind_of(p):
    if UDP in p and p[UDP].dport == 67 and p[UDP].sport == 68:
        return "dhcp-discover"
    if UDP in p and p[UDP].sport == 67:
        return "dhcp-offer"
    if UDP in p and p[UDP].sport == 547:
        return "dhcpv6-reply"
    if ICMPv6ND_RA in p:
        return "router-advertisement"
    return None


if sys.argv[1] == "send":
    iface = sys.argv[2]
    for kind in sys.argv[3].split(","):
        sendp(frame(kind, iface), iface=iface, count=2, verbose=False)
elif sys.argv[1] == "sniff":
    print("ready", flush=True)
    seen = {kind_of(p) for p in sniff(iface=sys.argv[2], timeout=float(sys.argv[3]))}
    print("\n".join(sorted(k for k in seen if k)), flush=True)
