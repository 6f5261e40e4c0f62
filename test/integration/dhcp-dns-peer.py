#!/usr/bin/python3
"""Hostile DHCP and DNS servers for dhcp-dns.test.ts, run inside the test's namespace with Debian's
python (python3-scapy), on the kernel's side of the TAP.

    dhcp-dns-peer.py dhcp --iface tap0 --server 198.18.X.1 --other 198.18.X.3 --offer 198.18.X.50
        Waits for tapstack's DISCOVER, answers it with malformed and foreign OFFERs (one per
        case in DHCP_OFFER_CASES), then a good OFFER; waits for the REQUEST, answers it with
        foreign ACK/NAKs (DHCP_ACK_CASES), then a good ACK (lease 120 s).

    dhcp-dns-peer.py claim --iface tap0 --server 198.18.X.1 --other 198.18.X.50
        Another host that has OTHER: answers every ARP request for it (probes included) from a
        MAC of its own, for 30 s, then prints how many it answered.

    dhcp-dns-peer.py dns --iface tap0 --server 198.18.X.1 --other 198.18.X.3 --answer 198.18.X.1
        A DNS server on SERVER:53 for one query: answers it with malformed and foreign answers
        (DNS_CASES), then the good one (A ANSWER, TTL 60).

Prints one JSON line: the cases sent, in order, each with the drop reason tapstack should count.
"""
import argparse
import json
import socket
import struct
import sys
import time



def scapy():
    """scapy, imported when needed: it takes a second or two, and the DNS server must be up first."""
    import scapy.all as sc

    sc.conf.verb = 0
    return sc

MAGIC = b'\x63\x82\x53\x63'


def ip4(a):
    return socket.inet_aton(a)


def dhcp_bytes(op, xid, chaddr, yiaddr, options, cookie=MAGIC, end=True):
    fixed = struct.pack('!BBBBIHH4s4s4s4s16s64s128s', op, 1, 6, 0, xid, 0, 0, b'\0' * 4, ip4(yiaddr), b'\0' * 4, b'\0' * 4, chaddr.ljust(16, b'\0'), b'', b'')
    body = fixed + cookie + options + (b'\xff' if end else b'')
    return body.ljust(300, b'\0') if end else body


def opt(code, value):
    return bytes([code, len(value)]) + value


def server_options(msg_type, server, lease=120):
    o = opt(53, bytes([msg_type])) + opt(54, ip4(server))
    if msg_type != 6:
        o += opt(51, struct.pack('!I', lease)) + opt(1, ip4('255.255.255.0')) + opt(3, ip4(server)) + opt(6, ip4(server))
    return o


def run_dhcp(a):
    sc = scapy()
    IP, UDP, AsyncSniffer, Ether, Raw, sendp = sc.IP, sc.UDP, sc.AsyncSniffer, sc.Ether, sc.Raw, sc.sendp
    mac = sc.get_if_hwaddr(a.iface)
    is_req = lambda t: lambda p: UDP in p and p[UDP].dport == 67 and bytes(p[UDP].payload)[:1] == b'\x01' and opt(53, bytes([t])) in bytes(p[UDP].payload)[240:]
    sniff = AsyncSniffer(iface=a.iface, lfilter=is_req(1), count=1, timeout=30)
    sniff.start()
    sniff.join()
    if not sniff.results:
        print(json.dumps({'error': 'no DISCOVER'}))
        return 1
    d = bytes(sniff.results[0][UDP].payload)
    xid = struct.unpack('!I', d[4:8])[0]
    chaddr = d[28:34]
    client_mac = sniff.results[0][Ether].src

    def frame(payload, src=a.server, chksum=None, sport=67):
        u = UDP(sport=sport, dport=68) if chksum is None else UDP(sport=sport, dport=68, chksum=chksum)
        return Ether(src=mac, dst=client_mac) / IP(src=src, dst='255.255.255.255') / u / Raw(payload)

    offer_opts = server_options(2, a.server)
    cases = [
        ('wrong-xid', 'dhcp-wrong-xid', frame(dhcp_bytes(2, xid ^ 1, chaddr, a.offer, offer_opts))),
        ('wrong-op', 'dhcp-not-reply', frame(dhcp_bytes(1, xid, chaddr, a.offer, offer_opts))),
        ('wrong-chaddr', 'dhcp-wrong-chaddr', frame(dhcp_bytes(2, xid, b'\x02\x01\x01\x01\x01\x01', a.offer, offer_opts))),
        ('bad-cookie', 'dhcp-bad-cookie', frame(dhcp_bytes(2, xid, chaddr, a.offer, offer_opts, cookie=b'\x63\x82\x53\x64'))),
        ('truncated-options', 'dhcp-options-truncated', frame(dhcp_bytes(2, xid, chaddr, a.offer, offer_opts + b'\x33\x04\x00', end=False))),
        ('short', 'dhcp-truncated', frame(dhcp_bytes(2, xid, chaddr, a.offer, offer_opts)[:200])),
        ('bad-udp-checksum', 'udp-bad-checksum', frame(dhcp_bytes(2, xid, chaddr, a.offer, offer_opts), chksum=0x1234)),
        ('ack-while-selecting', 'dhcp-unexpected', frame(dhcp_bytes(2, xid, chaddr, a.offer, server_options(5, a.server)))),
        ('no-server-id', 'dhcp-bad-lease', frame(dhcp_bytes(2, xid, chaddr, a.offer, opt(53, b'\x02') + opt(51, struct.pack('!I', 120))))),
        ('from-port-68', 'dhcp-wrong-server', frame(dhcp_bytes(2, xid, chaddr, a.offer, offer_opts), sport=68)),
    ]
    for _, _, f in cases:
        sendp(f, iface=a.iface)
        time.sleep(0.05)
    sniff = AsyncSniffer(iface=a.iface, lfilter=is_req(3), count=1, timeout=30)
    sniff.start()
    time.sleep(0.3)
    sendp(frame(dhcp_bytes(2, xid, chaddr, a.offer, offer_opts)), iface=a.iface)
    sniff.join()
    if not sniff.results:
        print(json.dumps({'error': 'no REQUEST'}))
        return 1
    acks = [
        ('ack-from-another-server', 'dhcp-wrong-server', frame(dhcp_bytes(2, xid, chaddr, a.offer, server_options(5, a.other)), src=a.other)),
        ('nak-from-another-server', 'dhcp-wrong-server', frame(dhcp_bytes(2, xid, chaddr, '0.0.0.0', server_options(6, a.other)), src=a.other)),
        ('ack-wrong-xid', 'dhcp-wrong-xid', frame(dhcp_bytes(2, xid + 7, chaddr, a.offer, server_options(5, a.server)))),
    ]
    for _, _, f in acks:
        sendp(f, iface=a.iface)
        time.sleep(0.05)
    sendp(frame(dhcp_bytes(2, xid, chaddr, a.offer, server_options(5, a.server))), iface=a.iface)
    print(json.dumps({'cases': [[n, r] for n, r, _ in cases + acks]}))
    return 0


def dns_name(name):
    return b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\0'


def run_dns(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.server, 53))
    s.settimeout(30)
    other_port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other_port.bind((a.server, 5353))
    other_addr = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other_addr.bind((a.other, 53))
    # scapy now, with the server up (queries wait in the socket), not between the cases and the
    # good answer: its import takes seconds on a loaded machine, and the resolver asks again with
    # a new id and port after 2 s, so answer the latest query there is.
    sc = scapy()
    q, (cip, cport) = s.recvfrom(512)
    s.setblocking(False)
    while True:
        try:
            q, (cip, cport) = s.recvfrom(512)
        except BlockingIOError:
            break
    s.settimeout(30)
    qid = struct.unpack('!H', q[:2])[0]
    question = q[12:]
    answer_rr = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 60, 4) + ip4(a.answer)

    def msg(id_=qid, flags=0x8180, qd=question, an=(answer_rr,)):
        return struct.pack('!HHHHHH', id_, flags, 1, len(an), 0, 0) + qd + b''.join(an)

    loop_q = b'\xc0\x0c' + question[-4:]  # the question's name points at itself
    fwd_q = b'\xc0\x20' + question[-4:]  # a pointer beyond the name, forward
    bad_a = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 60, 3) + b'\x01\x02\x03'
    cases = [
        ('wrong-id', 'dns-wrong-id', s, msg(id_=qid ^ 0x5555)),
        ('other-question', 'dns-question-mismatch', s, msg(qd=dns_name('other.tapstack.test') + b'\x00\x01\x00\x01')),
        ('not-a-response', 'dns-not-response', s, msg(flags=0x0100)),
        ('compression-loop', 'dns-name-loop', s, msg(qd=loop_q)),
        ('forward-pointer', 'dns-bad-pointer', s, msg(qd=fwd_q, an=())),
        ('cut', 'dns-truncated', s, msg()[:10]),
        ('bad-a-length', 'dns-bad-rdata', s, msg(an=(bad_a,))),
        ('from-port-5353', 'dns-wrong-source', other_port, msg()),
        ('from-another-address', 'dns-wrong-source', other_addr, msg()),
    ]
    for _, _, sock, m in cases:
        sock.sendto(m, (cip, cport))
        time.sleep(0.05)
    # A bad UDP checksum, from the right address and port (the kernel would fill a good one).
    mac = None
    for line in open('/proc/net/arp').read().splitlines()[1:]:
        f = line.split()
        if f[0] == cip:
            mac = f[3]
    sent = [[n, r] for n, r, _, _ in cases]
    if mac:
        sc.sendp(sc.Ether(src=sc.get_if_hwaddr(a.iface), dst=mac) / sc.IP(src=a.server, dst=cip) / sc.UDP(sport=53, dport=cport, chksum=0x1234) / sc.Raw(msg()), iface=a.iface)
        sent.append(['bad-udp-checksum', 'udp-bad-checksum'])
        time.sleep(0.05)
    s.sendto(msg(), (cip, cport))
    print(json.dumps({'cases': sent}))
    return 0


def run_claim(a):
    sc = scapy()
    claimer = '02:00:5e:00:53:01'
    answered = [0]

    def answer(p):
        if sc.ARP in p and p[sc.ARP].op == 1 and p[sc.ARP].pdst == a.other:
            sc.sendp(sc.Ether(src=claimer, dst=p[sc.ARP].hwsrc) / sc.ARP(op=2, hwsrc=claimer, psrc=a.other, hwdst=p[sc.ARP].hwsrc, pdst=p[sc.ARP].psrc), iface=a.iface)
            answered[0] += 1

    print('ready', flush=True)
    sc.sniff(iface=a.iface, prn=answer, store=False, timeout=30)
    print(json.dumps({'cases': [], 'answered': answered[0]}))
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument('mode', choices=['dhcp', 'dns', 'claim'])
    p.add_argument('--iface', required=True)
    p.add_argument('--server', required=True)
    p.add_argument('--other', required=True)
    p.add_argument('--offer')
    p.add_argument('--answer')
    a = p.parse_args()
    return {'dhcp': run_dhcp, 'dns': run_dns, 'claim': run_claim}[a.mode](a)


if __name__ == '__main__':
    sys.exit(main())
