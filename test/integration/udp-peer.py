#!/usr/bin/python3
"""The kernel's side of the UDP integration tests (test/integration/udp*.test.ts), run inside the
test's network namespace. Each command prints one JSON line.

    echo HOST PORT COUNT SEED [lossy]
                                 datagrams of sizes 1..65507 to a UDP echo service; every byte of
                                 every echo checked. At most WINDOW in flight. `lossy`: a datagram
                                 not echoed within 0.2 s is counted lost and the next ones go
                                 (under fault injection); a second echo of one is a duplicate,
                                 one after it was counted lost is late.
    flood HOST PORT COUNT        COUNT datagrams as fast as the kernel sends them (a closed port).
    send HOST PORT COUNT SIZE    COUNT datagrams of SIZE bytes, paced by a small window of
                                 SO_SNDBUF (for the page reader); no answer expected.
    sink HOST PORT COUNT         receive until COUNT datagrams came or none for 2 s; counts them
                                 (scripts/udp-uso-measure uses it).
    malformed IFACE DST_MAC DST_IP SRC_IP PORT
                                 scapy: malformed UDP datagrams to PORT (an echo service), each
                                 case then a well-formed control whose echo must come back.
"""
import json
import os
import random
import socket
import struct
import sys
import time

WINDOW = 8
MAX = 65507


def sizes(count, rng):
    """Every size of 1..1500 (the MTU's edge: 1472 fits, 1473 fragments), the extremes, then
    random sizes: most up to 4096, a sixth up to 65507."""
    s = list(range(1, 1501)) + [MAX, MAX - 1, 65000, 32768, 8192, 4097, 4096, 2945, 2944, 1473, 1472]
    while len(s) < count:
        s.append(rng.randint(1, 4096) if rng.random() < 0.83 else rng.randint(4097, MAX))
    rng.shuffle(s)
    return s[:count]


def echo(host, port, count, seed, lossy=False):
    rng = random.Random(seed)
    base = rng.randbytes(2 * 65536)
    sz = sizes(count, rng)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    s.connect((host, port))
    s.settimeout(0.2 if lossy else 5.0)

    def data(i):
        n = sz[i]
        off = (i * 7919) % 65536
        body = base[off:off + n]
        # The sequence number leads when it fits; shorter ones are matched by content.
        return struct.pack('!I', i)[:n] + body[4:] if n >= 4 else body

    pending = {}
    done = set()  # hashes of the datagrams echoed: a second echo of one is a duplicate
    given_up = set()  # hashes of those counted lost: an echo of one that comes after all is late
    late = 0
    lost = []
    duplicates = 0
    nxt = 0
    got = 0
    bytes_ok = 0
    bad = []
    t0 = time.monotonic()
    while got + len(lost) < count:
        while nxt < count and len(pending) < WINDOW:
            d = data(nxt)
            s.send(d)
            pending[nxt] = d
            nxt += 1
        try:
            r = s.recv(65536)
        except socket.timeout:
            if not lossy:
                break
            lost.extend(pending)
            given_up.update(hash(v) for v in pending.values())
            pending.clear()
            continue
        key = None
        if len(r) >= 4:
            k = struct.unpack('!I', r[:4])[0]
            if k in pending and pending[k] == r:
                key = k
        if key is None:
            key = next((k for k, v in pending.items() if v == r), None)
        if key is None:
            if hash(r) in done:
                duplicates += 1
            elif hash(r) in given_up:
                late += 1
            else:
                bad.append(len(r))
            continue
        del pending[key]
        done.add(hash(r))
        got += 1
        bytes_ok += len(r)
    dt = time.monotonic() - t0
    print(json.dumps({'sent': nxt, 'echoed': got, 'bytes': bytes_ok, 'total': sum(sz), 'bad': bad[:20], 'badCount': len(bad),
                      'lost': sorted(lost + list(pending))[:20], 'lostCount': len(lost) + len(pending), 'duplicates': duplicates, 'late': late,
                      'largest': max(sz), 'smallest': min(sz),
                      'fragmented': sum(1 for n in sz if n > 1472), 'seconds': round(dt, 3)}))


def flood(host, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    payload = b'flood' * 20
    sent = 0
    t0 = time.monotonic()
    for _ in range(count):
        try:
            s.sendto(payload, (host, port))
            sent += 1
        except OSError:
            pass  # ECONNREFUSED of an earlier Port Unreachable, or a full queue: go on
    print(json.dumps({'sent': sent, 'seconds': round(time.monotonic() - t0, 3)}))


def send(host, port, count, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, port))
    data = os.urandom(size)
    sent = 0
    t0 = time.monotonic()
    for i in range(count):
        s.send(data)
        sent += 1
        if i % 32 == 31:
            time.sleep(0.001)  # let tapstack's page reader keep up: the test is about flipping, not loss
    print(json.dumps({'sent': sent, 'bytes': sent * size, 'seconds': round(time.monotonic() - t0, 3)}))


def sink(host, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # SO_RCVBUFFORCE (33, root): beyond net.core.rmem_max, so the sink's queue is not what drops.
    s.setsockopt(socket.SOL_SOCKET, 33, 256 << 20)
    s.bind((host, port))
    print(json.dumps({'ready': True}), flush=True)
    s.settimeout(2.0)
    n = 0
    total = 0
    t0 = None
    while n < count:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if t0 is None:
            t0 = time.monotonic()
        n += 1
        total += len(b)
    print(json.dumps({'received': n, 'bytes': total, 'seconds': round(time.monotonic() - (t0 or time.monotonic()), 3)}), flush=True)


def malformed(iface, dst_mac, dst_ip, src_ip, port):
    from scapy.all import Ether, Raw, conf, get_if_hwaddr, sendp
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from inet import checksum, ip_bytes

    conf.verb = 0
    src_mac = get_if_hwaddr(iface)
    # A kernel socket on the source port receives the echoes of what tapstack accepted.
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind((src_ip, 0))
    sport = rx.getsockname()[1]
    ident = [0x5100]

    def udp(data, length=None, csum='good', ip_payload=None, dport=port, src_port=None):
        ulen = 8 + len(data) if length is None else length
        h = struct.pack('!HHHH', sport if src_port is None else src_port, dport, ulen & 0xFFFF, 0)
        msg = h + data
        if csum == 'good':
            covered = msg[:max(8, min(len(msg), ulen))]
            pseudo = ip_bytes(src_ip) + ip_bytes(dst_ip) + struct.pack('!BBH', 0, 17, len(covered))
            c = checksum(pseudo + covered) or 0xFFFF
            msg = msg[:6] + struct.pack('!H', c) + msg[8:]
        elif csum != 'zero':
            msg = msg[:6] + struct.pack('!H', csum) + msg[8:]
        if ip_payload is not None:
            msg = msg[:ip_payload]
        ident[0] += 1
        iph = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(msg), ident[0], 0, 64, 17, 0, ip_bytes(src_ip), ip_bytes(dst_ip))
        iph = iph[:10] + struct.pack('!H', checksum(iph)) + iph[12:]
        return Ether(dst=dst_mac, src=src_mac, type=0x0800) / Raw(iph + msg)

    def answers(expected):
        """What comes back: `expected` answers (waiting up to 2 s for each), then anything else
        within 0.3 s (none expected: 0.6 s of silence)."""
        out = []
        while True:
            rx.settimeout(2.0 if len(out) < expected else (0.6 if expected == 0 else 0.3))
            try:
                out.append(rx.recv(65536))
            except socket.timeout:
                return out

    ten = b'0123456789'
    cases = [
        # name, frame, the echo expected (None: none), the drop reason it is counted under
        ('udp-length-beyond-ip-payload', udp(ten, length=30), None, 'udp-bad-length'),
        ('udp-length-below-8', udp(ten, length=7, csum='zero'), None, 'udp-bad-length'),
        ('udp-length-zero', udp(ten, length=0, csum='zero'), None, 'udp-bad-length'),
        ('udp-header-cut', udp(ten, ip_payload=6), None, 'udp-truncated'),
        ('udp-bad-checksum', udp(ten, csum=0x1234), None, 'udp-bad-checksum'),
        ('udp-bad-checksum-odd-length', udp(b'odd', csum=0x0001), None, 'udp-bad-checksum'),
        # Accepted: an odd length, no checksum (RFC 768), a length shorter than the IP payload
        # (the rest is padding, trimmed as Linux's udp_rcv does).
        ('udp-odd-length', udp(b'abcdefghi'), b'abcdefghi', None),
        ('udp-zero-checksum', udp(ten, csum='zero'), ten, None),
        ('udp-length-below-ip-payload', udp(ten, length=13), b'01234', None),
        # Source port 0 (RFC 768: no reply expected): taken, not answered, and nothing breaks.
        ('udp-source-port-zero', udp(ten, src_port=0), None, None),
    ]
    results = []
    reasons = {}
    for name, frame, want, reason in cases:
        sendp(frame, iface=iface)
        got = answers(0 if want is None else 1)
        sendp(udp(b'control-' + name.encode()), iface=iface)
        control = answers(1)
        ok = (got == ([] if want is None else [want])) and control == [b'control-' + name.encode()]
        if reason:
            reasons[reason] = reasons.get(reason, 0) + 1
        results.append({'case': name, 'ok': ok, 'got': [g.hex() for g in got][:3], 'control': len(control)})
    for r in results:
        print(json.dumps(r))
    print(json.dumps({'summary': {'cases': len(results), 'failed': [r['case'] for r in results if not r['ok']], 'reasons': reasons}}))


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == 'echo':
        echo(a[0], int(a[1]), int(a[2]), int(a[3]), len(a) > 4 and a[4] == 'lossy')
    elif cmd == 'flood':
        flood(a[0], int(a[1]), int(a[2]))
    elif cmd == 'send':
        send(a[0], int(a[1]), int(a[2]), int(a[3]))
    elif cmd == 'sink':
        sink(a[0], int(a[1]), int(a[2]))
    elif cmd == 'malformed':
        malformed(a[0], a[1], a[2], a[3], int(a[4]))
    else:
        sys.exit('unknown command ' + cmd)


if __name__ == '__main__':
    main()
