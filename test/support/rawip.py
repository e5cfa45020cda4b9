#!/usr/bin/python3
"""Raw IP datagrams of any protocol, for rules that match a protocol without ports (GRE, ESP, VRRP, ...).

  rawip.py send ADDR PROTO TOKEN [COUNT]  send COUNT (default 1) datagrams of IP protocol PROTO to ADDR, each carrying TOKEN
  rawip.py recv FAMILY PROTO SECONDS      print "ready", then each token-looking payload of protocol PROTO received
                                          within SECONDS (FAMILY 4 or 6)

Python's own raw sockets: no scapy start-up, and the kernel builds the IP header.
"""
import re
import select
import socket
import sys
import time

if sys.argv[1] == "send":
    addr, proto, token = sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_RAW, proto)
    # A GRE header first (version 0, carrying IPv4): conntrack finds GRE without one invalid,
    # and the other protocols' receivers only look for the token.
    for _ in range(count):
        s.sendto(b"\x00\x00\x08\x00" + token, (addr, 0))
elif sys.argv[1] == "recv":
    family = socket.AF_INET6 if sys.argv[2] == "6" else socket.AF_INET
    s = socket.socket(family, socket.SOCK_RAW, int(sys.argv[3]))
    end = time.time() + float(sys.argv[4])
    print("ready", flush=True)
    while (left := end - time.time()) > 0:
        if select.select([s], [], [], left)[0]:
            # An IPv4 raw socket hands over the IP header too: the token is found inside.
            for token in re.findall(rb"vfwt[0-9a-z]+", s.recv(65535)):
                print(token.decode(), flush=True)
