#!/usr/bin/python3
"""Crafted frames for the anti-spoofing tests (Debian's python3-scapy).

  frames.py send IFACE KIND[,KIND...] ADDR  send each KIND twice from IFACE, with IFACE's own MAC;
                                            ADDR is the IPv4 address a dhcp-offer comes from, or the
                                            address a garp (IPv4) or an na (IPv6) claims
  frames.py sniff IFACE SECONDS [KIND,...]  print, one per line as first seen, the KINDs seen on IFACE within
                                            SECONDS: those given, else dhcp-discover, dhcp-offer, dhcpv6-reply,
                                            router-advertisement

KINDs: dhcp-discover (0.0.0.0:68 -> 255.255.255.255:67), dhcp-offer (a server reply, sport 67),
dhcpv6-reply (sport 547), dhcpv6-solicit (546 -> 547), router-advertisement, router-solicitation, ns (a neighbour
solicitation for ADDR), mld-query, mld-report, mld-done, mld2-report (MLD, ICMPv6 130, 131, 132, 143), garp (a gratuitous ARP: ADDR is at IFACE's MAC), na (an unsolicited neighbour
advertisement, override flag set: ADDR is at IFACE's MAC).
"""
import sys
import logging

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import (ARP, BOOTP, DHCP, DHCP6_Reply, DHCP6_Solicit, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_RS,  # noqa: E402
                       ICMPv6NDOptDstLLAddr, IP, IPv6, UDP, Ether, get_if_hwaddr, sendp, sniff)
from scapy.layers.inet6 import (ICMPv6MLDMultAddrRec, ICMPv6MLDone, ICMPv6MLQuery, ICMPv6MLReport, ICMPv6MLReport2,  # noqa: E402
                                IPv6ExtHdrHopByHop, RouterAlert)

MLD = {"mld-query": ICMPv6MLQuery, "mld-report": ICMPv6MLReport, "mld-done": ICMPv6MLDone, "mld2-report": ICMPv6MLReport2}
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
    if kind == "router-solicitation":
        return Ether(src=mac, dst="33:33:00:00:00:02") / IPv6(src=ll, dst="ff02::2", hlim=255) / ICMPv6ND_RS()
    if kind == "dhcpv6-solicit":
        return Ether(src=mac, dst="33:33:00:01:00:02") / IPv6(src=ll, dst="ff02::1:2") / UDP(sport=546, dport=547) / DHCP6_Solicit()
    if kind == "ns":
        return Ether(src=mac, dst="33:33:ff:00:00:00") / IPv6(src=ll, dst="ff02::1:ff00:0", hlim=255) / ICMPv6ND_NS(tgt=sys.argv[4])
    if kind in MLD:
        body = MLD[kind](records=[ICMPv6MLDMultAddrRec(dst="ff02::1:ff00:a")]) if kind == "mld2-report" else MLD[kind](mladdr="ff02::1:ff00:a")
        return (Ether(src=mac, dst="33:33:00:00:00:16") / IPv6(src=ll, dst="ff02::16", hlim=1)
                / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / body)
    if kind == "garp":
        return Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=sys.argv[4], pdst=sys.argv[4])
    if kind == "na":
        return (Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=ll, dst="ff02::1", hlim=255)
                / ICMPv6ND_NA(tgt=sys.argv[4], R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=mac))
    raise SystemExit(f"unknown kind {kind}")


ICMPV6 = {"router-advertisement": ICMPv6ND_RA, "router-solicitation": ICMPv6ND_RS, "ns": ICMPv6ND_NS, "na": ICMPv6ND_NA, **MLD}
UDP_SOURCES = {67: "dhcp-offer", 547: "dhcpv6-reply", 546: "dhcpv6-solicit"}


def kind_of(p):
    if UDP in p:
        return "dhcp-discover" if (p[UDP].sport, p[UDP].dport) == (68, 67) else UDP_SOURCES.get(p[UDP].sport)
    return next((kind for kind, layer in ICMPV6.items() if layer in p), None)


if sys.argv[1] == "send":
    iface = sys.argv[2]
    for kind in sys.argv[3].split(","):
        sendp(frame(kind, iface), iface=iface, count=2, verbose=False)
elif sys.argv[1] == "sniff":
    print("ready", flush=True)
    wanted = set(sys.argv[4].split(",")) if len(sys.argv) > 4 else {"dhcp-discover", "dhcp-offer", "dhcpv6-reply", "router-advertisement"}
    seen = set()

    def report(p):
        kind = kind_of(p)
        if kind in wanted and kind not in seen:
            seen.add(kind)
            print(kind, flush=True)

    sniff(iface=sys.argv[2], timeout=float(sys.argv[3]), prn=report, store=False)
