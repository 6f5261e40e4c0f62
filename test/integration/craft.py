#!/usr/bin/python3
"""Send malformed (and some well-formed control) frames to tapstack from the kernel's side of the TAP.

Run inside the test's network namespace with Debian's python (python3-scapy):

    /usr/bin/python3 craft.py --iface tap0 --dst-mac MAC --dst-ip 198.18.X.2 --src-ip 198.18.X.1 CASE...

Every frame is addressed to tapstack's MAC and IPv4 address (except `other-mac`, which is the
point of it) and comes from the TAP's own MAC. Each CASE sends the frames listed in CASES, in
order; `--list` prints the case names. Prints one line per case: `CASE FRAMES`, and with
`--probe`, after each case, a well-formed echo request (identifier ID_PROBE, sequence = the case's
position from 1) is sent and its reply awaited: the line then ends in `answered` or `unanswered`.
"""
import argparse
import struct
import sys

from scapy.all import ICMP, IP, Ether, Raw, conf, get_if_hwaddr, sendp, srp1

from inet import checksum, ip_bytes, mac_bytes

conf.verb = 0

# The identifiers the test looks for in the capture (ICMP echo identifier).
ID_OVERLAP = 0x7A7A
ID_CONTROL = 0x7A7B
ID_OTHER_MAC = 0x7A7C
ID_BAD_CSUM = 0x7A7D
ID_PROBE = 0x7A7E
ID_PADDED = 0x7A7F


class Ctx:
    def __init__(self, a):
        self.iface = a.iface
        self.dst_mac = a.dst_mac
        self.src_mac = get_if_hwaddr(a.iface)
        self.dst_ip = a.dst_ip
        self.src_ip = a.src_ip

    def eth(self, etype):
        return Ether(dst=self.dst_mac, src=self.src_mac, type=etype)

    def ip(self, **kw):
        return IP(src=self.src_ip, dst=self.dst_ip, **kw)

    def echo(self, ident=0x7A00, seq=1, data=b'tapstack-it' * 4, **ipkw):
        return self.eth(0x0800) / self.ip(**ipkw) / ICMP(type=8, id=ident, seq=seq) / Raw(data)

    def raw_ipv4(self, header, payload):
        """An Ethernet frame around exactly these IPv4 bytes (no fixing up by scapy)."""
        return self.eth(0x0800) / Raw(header + payload)

    def ipv4_header(self, ihl=5, version=4, total_length=None, payload_len=0, csum=True, ident=0x4242, frag=0, options=b''):
        hl = ihl * 4
        tl = total_length if total_length is not None else max(hl, 20) + payload_len
        h = struct.pack('!BBHHHBBH4s4s', (version << 4) | ihl, 0, tl, ident, frag, 64, 1, 0,
                        ip_bytes(self.src_ip), ip_bytes(self.dst_ip)) + options
        if csum:
            h = h[:10] + struct.pack('!H', checksum(h)) + h[12:]
        return h

    def arp(self, htype=1, ptype=0x0800, hlen=6, plen=4, op=1, cut=None):
        body = struct.pack('!HHBBH', htype, ptype, hlen, plen, op)
        body += mac_bytes(self.src_mac) + ip_bytes(self.src_ip) + b'\0' * 6 + ip_bytes(self.dst_ip)
        if cut is not None:
            body = body[:cut]
        return self.eth(0x0806) / Raw(body)


def icmp_echo_bytes(ident, seq, data):
    msg = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + data
    return msg[:2] + struct.pack('!H', checksum(msg)) + msg[4:]


def fragments(c, ident, pieces, ip_id):
    """Frames carrying [offset, end) slices of one ICMP echo; pieces: (start, end, more)."""
    data = bytes(range(256))[:48]
    msg = icmp_echo_bytes(ident, 1, data)  # 56 bytes of ICMP
    out = []
    for start, end, more in pieces:
        flags = 0x2000 if more else 0
        h = c.ipv4_header(payload_len=end - start, ident=ip_id, frag=flags | (start // 8))
        out.append(c.raw_ipv4(h, msg[start:end]))
    return out


def case_frames(c, name):
    echo_payload = bytes(ICMP(type=8, id=0x7A01, seq=1) / Raw(b'x' * 20))
    if name == 'ipv4-truncated':
        # Total Length says 1000 bytes; the frame carries 48.
        return [c.raw_ipv4(c.ipv4_header(total_length=1000), echo_payload)]
    if name == 'ipv4-bad-total-length':
        # Total Length 12: less than the 20-byte header the frame does carry.
        return [c.raw_ipv4(c.ipv4_header(total_length=12), echo_payload)]
    if name == 'ipv4-bad-checksum':
        return [c.echo(ident=ID_BAD_CSUM, chksum=0x1234)]
    if name == 'ipv4-bad-ihl-3':
        # IHL 3 (12 bytes): below the minimum of 5.
        return [c.raw_ipv4(c.ipv4_header(ihl=3, total_length=20 + len(echo_payload)), echo_payload)]
    if name == 'ipv4-bad-ihl-15':
        # IHL 15 (60 bytes) in a 40-byte packet whose Total Length is 40.
        return [c.raw_ipv4(c.ipv4_header(ihl=15, total_length=40), b'\0' * 20)]
    if name == 'ipv4-bad-options':
        # IHL 6: a Timestamp option (68) claiming 10 bytes where the header has 4 left.
        opts = bytes([68, 10, 5, 0])
        return [c.raw_ipv4(c.ipv4_header(ihl=6, payload_len=len(echo_payload), options=opts), echo_payload)]
    if name == 'eth-padded-echo':
        # A well-formed echo in a frame padded to Ethernet's 60-byte minimum with junk (control:
        # answered, with the 4 bytes of data and not the padding).
        msg = icmp_echo_bytes(ID_PADDED, 1, b'pad!')
        frame = c.raw_ipv4(c.ipv4_header(payload_len=len(msg)), msg + b'\xaa' * 14)
        assert len(frame) == 60
        return [frame]
    if name == 'ipv4-bad-version':
        return [c.raw_ipv4(c.ipv4_header(version=6, payload_len=len(echo_payload)), echo_payload)]
    if name == 'arp-bad-hardware':
        return [c.arp(htype=6)]
    if name == 'arp-bad-protocol':
        return [c.arp(ptype=0x86DD)]
    if name == 'arp-bad-lengths':
        return [c.arp(hlen=8), c.arp(plen=16)]
    if name == 'arp-bad-op':
        return [c.arp(op=9)]
    if name == 'arp-truncated':
        # The 8-byte fixed part and 12 bytes of addresses: 20 of 28.
        return [c.arp(cut=20), c.arp(cut=6)]
    if name == 'icmp-bad-checksum':
        f = c.echo(ident=ID_BAD_CSUM, seq=2)
        f[ICMP].chksum = 0xBEEF
        return [f]
    if name == 'frag-overlap':
        # [0, 24) then [16, 40) overlaps it by 8 bytes; then the rest [40, 56).
        return fragments(c, ID_OVERLAP, [(0, 24, True), (16, 40, True), (40, 56, False)], ip_id=0x5151)
    if name == 'frag-control':
        # The same echo in three fragments that do not overlap: this one must be answered.
        return fragments(c, ID_CONTROL, [(0, 24, True), (24, 40, True), (40, 56, False)], ip_id=0x5152)
    if name == 'eth-not-for-us':
        f = c.echo(ident=ID_OTHER_MAC)
        f[Ether].dst = '02:00:5e:10:00:99'
        return [f]
    raise SystemExit('craft.py: unknown case %r' % name)


CASES = [
    'ipv4-truncated', 'ipv4-bad-total-length', 'ipv4-bad-checksum', 'ipv4-bad-ihl-3', 'ipv4-bad-ihl-15',
    'ipv4-bad-options', 'ipv4-bad-version', 'eth-padded-echo', 'arp-bad-hardware', 'arp-bad-protocol', 'arp-bad-lengths', 'arp-bad-op',
    'arp-truncated', 'icmp-bad-checksum', 'frag-overlap', 'frag-control', 'eth-not-for-us',
]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--iface', default='tap0')
    p.add_argument('--dst-mac')
    p.add_argument('--dst-ip')
    p.add_argument('--src-ip')
    p.add_argument('--list', action='store_true')
    p.add_argument('--probe', action='store_true', help='after each case, ping once and report the answer')
    p.add_argument('--probe-timeout', type=float, default=3.0)
    p.add_argument('cases', nargs='*')
    a = p.parse_args()
    if a.list:
        print('\n'.join(CASES))
        return
    if not (a.dst_mac and a.dst_ip and a.src_ip and a.cases):
        p.error('--dst-mac, --dst-ip, --src-ip and at least one CASE are needed')
    c = Ctx(a)
    for i, name in enumerate(a.cases, 1):
        frames = case_frames(c, name)
        for f in frames:
            sendp(f, iface=c.iface)
        line = '%s %d' % (name, len(frames))
        if a.probe:
            probe = c.echo(ident=ID_PROBE, seq=i, data=b'probe after ' + name.encode())
            ans = srp1(probe, iface=c.iface, timeout=a.probe_timeout)
            ok = ans is not None and ICMP in ans and ans[ICMP].type == 0 and ans[ICMP].id == ID_PROBE and ans[ICMP].seq == i
            line += ' answered' if ok else ' unanswered'
        print(line, flush=True)
    sys.stdout.flush()


if __name__ == '__main__':
    main()
