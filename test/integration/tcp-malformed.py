#!/usr/bin/python3
"""Malformed and hostile TCP segments against tapstack, from the kernel's side of the TAP.

Run inside the test's network namespace with Debian's python (python3-scapy):

    /usr/bin/python3 tcp-malformed.py --iface tap0 --dst-mac MAC --dst-ip 198.18.X.2 \\
        --src-ip 198.18.X.1 --port 7

`--port` is a port where tapstack runs an echo service. Three groups of cases:

- listener: segments to the listening port from fresh source ports (no connection exists):
  bad data offsets, bad option lengths, SYN+FIN, SYN+RST, a bad checksum, and a well-formed SYN
  as the control (it must get a SYN-ACK);
- established: a kernel TCP socket (not scapy's) connects to the echo service; the segments
  are injected into its four-tuple, with sequence numbers learnt by sniffing: RFC 5961 blind
  RST/SYN/data (in window, outside it, with unacceptable ACKs), an urgent pointer past the data,
  urgent data sent by the kernel itself (MSG_OOB), and malformed headers. Afterwards the echo
  must still return exactly what the socket sends: nothing injected got in;
- zero window: a second kernel socket (opened with window scaling off in this namespace, see
  zero_window_case) fills tapstack's receive window (it sends and does not read the echo) until
  tapstack advertises 0, then data is injected at RCV.NXT; afterwards the whole echo is read back
  and compared;
- finally an RST with exactly RCV.NXT resets the first connection (RFC 5961 3.2).

Prints one JSON object per line: per case {"case", "group", "want", "got", "ok", "reasons"}
(`want`: none | ack | synack; `got`: tapstack's replies on that four-tuple; `reasons`: the drop
counters the case must raise, name -> count), and a last line {"summary": ...}.
"""
import argparse
import json
import os
import select
import socket
import struct
import sys
import threading
import time

from scapy.all import IP, TCP, AsyncSniffer, Ether, Raw, conf, get_if_hwaddr, sendp

from inet import ACK, FIN, M32, PSH, RST, SYN, URG, checksum, flag_str, ip_bytes

conf.verb = 0

WAIT = 0.3  # seconds to collect tapstack's replies to one case


class Peer:
    def __init__(self, a):
        self.a = a
        self.iface = a.iface
        self.src_mac = get_if_hwaddr(a.iface)
        self.lock = threading.Lock()
        self.seen = []  # (time, direction 'in' (to tapstack) | 'out', TCP fields)
        self.sniffer = AsyncSniffer(iface=a.iface, store=False, prn=self._on_frame)

    # ---- capture ----

    def _on_frame(self, p):
        if IP not in p or TCP not in p:
            return
        ip, t = p[IP], p[TCP]
        if ip.src == self.a.dst_ip:
            d = 'out'
        elif ip.dst == self.a.dst_ip:
            d = 'in'
        else:
            return
        ts = None
        for o in t.options:
            if o[0] == 'Timestamp':
                ts = o[1]
        rec = {
            't': time.time(), 'dir': d, 'sport': t.sport, 'dport': t.dport, 'seq': t.seq, 'ack': t.ack,
            'flags': int(t.flags), 'win': t.window, 'len': len(bytes(t.payload)), 'ts': ts,
        }
        with self.lock:
            self.seen.append(rec)

    def replies(self, since, lport):
        """tapstack's segments to local port `lport` since `since`."""
        with self.lock:
            return [r for r in self.seen if r['dir'] == 'out' and r['t'] >= since and r['dport'] == lport]

    def last(self, d, lport, pred=lambda r: True):
        with self.lock:
            for r in reversed(self.seen):
                if r['dir'] == d and (r['sport'] if d == 'in' else r['dport']) == lport and pred(r):
                    return r
        return None

    # ---- segments ----

    def segment(self, sport, seq, ack=0, flags=ACK, window=65535, options=b'', payload=b'',
                doff=None, urg=0, bad_csum=False, dport=None):
        """The frame of one TCP segment, built by hand (scapy would fix what we break)."""
        dport = self.a.port if dport is None else dport
        hl = 20 + len(options)
        off = (hl // 4) if doff is None else doff
        tcp = struct.pack('!HHIIBBHHH', sport, dport, seq & M32, ack & M32, off << 4, flags, window, 0, urg) + options + payload
        pseudo = ip_bytes(self.a.src_ip) + ip_bytes(self.a.dst_ip) + struct.pack('!BBH', 0, 6, len(tcp))
        c = checksum(pseudo + tcp)
        if bad_csum:
            c ^= 0x5555
        tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
        return Ether(dst=self.a.dst_mac, src=self.src_mac) / IP(src=self.a.src_ip, dst=self.a.dst_ip, ttl=64, proto=6) / Raw(tcp)

    def send(self, frame):
        sendp(frame, iface=self.iface)


def ts_option(tsval, tsecr):
    return b'\x01\x01\x08\x0a' + struct.pack('!II', tsval & M32, tsecr & M32)


def reply_summary(r):
    return {'flags': flag_str(r['flags']), 'seq': r['seq'], 'ack': r['ack'], 'len': r['len'], 'win': r['win']}


def emit(obj):
    print(json.dumps(obj), flush=True)


def run_case(peer, results, group, name, lport, frames, want, reasons, ack_of=None, settle=WAIT):
    """Send `frames`, collect replies on `lport`, judge them against `want`."""
    t0 = time.time()
    for f in frames:
        peer.send(f)
    time.sleep(settle)
    got = peer.replies(t0, lport)
    if want == 'none':
        ok = len(got) == 0
    elif want == 'synack':
        ok = any(r['flags'] & (SYN | ACK) == (SYN | ACK) for r in got)
    elif want == 'ack':
        # An ACK (no RST, no SYN) saying where tapstack is: RCV.NXT = ack_of.
        ok = len(got) >= 1 and all(r['flags'] & (RST | SYN) == 0 and r['flags'] & ACK for r in got) and \
            (ack_of is None or any(r['ack'] == ack_of for r in got))
    else:
        ok = False
    res = {'case': name, 'group': group, 'want': want, 'got': [reply_summary(r) for r in got], 'ok': ok, 'reasons': reasons}
    results.append(res)
    emit(res)
    return got


# ---- listener cases ----

def listener_cases(peer, results):
    base = 41000
    iss = 0x10000000
    mss = b'\x02\x04\x05\xb4'
    cases = [
        # (name, kwargs of segment, want, reasons)
        ('listen-data-offset-4', dict(flags=SYN, options=mss, doff=4), 'none', {'tcp-bad-data-offset': 1}),
        ('listen-data-offset-0', dict(flags=SYN, doff=0), 'none', {'tcp-bad-data-offset': 1}),
        ('listen-data-offset-beyond-segment', dict(flags=SYN, options=mss, doff=15), 'none', {'tcp-bad-data-offset': 1}),
        ('listen-data-offset-beyond-data', dict(flags=SYN, options=mss, payload=b'abcd', doff=10), 'none', {'tcp-bad-data-offset': 1}),
        ('listen-option-length-0', dict(flags=SYN, options=b'\x02\x00\x05\xb4'), 'none', {'tcp-bad-options': 1}),
        ('listen-option-length-1', dict(flags=SYN, options=b'\x03\x01\x07\x01'), 'none', {'tcp-bad-options': 1}),
        ('listen-option-unknown-length-0', dict(flags=SYN, options=b'\x63\x00\x01\x01'), 'none', {'tcp-bad-options': 1}),
        ('listen-option-overlong', dict(flags=SYN, options=b'\x02\x28\x05\xb4'), 'none', {'tcp-bad-options': 1}),
        ('listen-option-overlong-sack', dict(flags=SYN, options=mss + b'\x01\x01\x05\x0a' + b'\0' * 4), 'none', {'tcp-bad-options': 1}),
        ('listen-option-no-length-byte', dict(flags=SYN, options=b'\x01\x01\x01\x02'), 'none', {'tcp-bad-options': 1}),
        ('listen-option-mss-wrong-length', dict(flags=SYN, options=b'\x02\x06\x05\xb4\x00\x00\x01\x01'), 'none', {'tcp-bad-options': 1}),
        ('listen-syn-fin', dict(flags=SYN | FIN, options=mss), 'none', {'tcp-bad-flags': 1}),
        ('listen-syn-rst', dict(flags=SYN | RST, options=mss), 'none', {'tcp-bad-flags': 1}),
        ('listen-syn-fin-rst-psh-urg', dict(flags=SYN | FIN | RST | PSH | URG, options=mss, urg=5), 'none', {'tcp-bad-flags': 1}),
        ('listen-bad-checksum', dict(flags=SYN, options=mss, bad_csum=True), 'none', {'tcp-bad-checksum': 1}),
        ('listen-bad-checksum-with-data', dict(flags=SYN, options=mss, payload=b'x' * 100, bad_csum=True), 'none', {'tcp-bad-checksum': 1}),
        # Not a SYN: a bare segment without flags to a listener is dropped.
        ('listen-no-flags', dict(flags=0), 'none', {'tcp-listen-no-syn': 1}),
    ]
    for i, (name, kw, want, reasons) in enumerate(cases):
        sport = base + i
        run_case(peer, results, 'listener', name, sport, [peer.segment(sport, iss, **kw)], want, reasons)
    # The control: a well-formed SYN (with an urgent pointer past its data, RFC 6093: harmless)
    # is answered with a SYN-ACK; our RST then ends it (the kernel also resets: the port is not its).
    sport = base + len(cases)
    got = run_case(peer, results, 'listener', 'listen-control-syn', sport,
                   [peer.segment(sport, iss, flags=SYN, options=mss, window=0)], 'synack', {})
    peer.send(peer.segment(sport, iss + 1, flags=RST))
    time.sleep(0.1)
    return got


# ---- established connection ----

def recv_exactly(s, n, timeout=10.0):
    s.settimeout(timeout)
    buf = b''
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            break
        buf += d
    return buf


def tuple_state(peer, lport):
    """RCV.NXT and SND.NXT of tapstack on the connection from local port `lport`, as sniffed."""
    time.sleep(0.2)  # delayed ACKs
    kin = peer.last('in', lport)
    kout = peer.last('out', lport)
    k_next = max(((kin['seq'] + kin['len']) & M32) if kin else 0, kout['ack'] if kout else 0)
    t_next = max(((kout['seq'] + kout['len']) & M32) if kout else 0, kin['ack'] if kin else 0)
    tsval = kin['ts'][0] if kin and kin['ts'] else 0
    tsecr = kout['ts'][0] if kout and kout['ts'] else 0
    return k_next, t_next, kin['win'] if kin else 65535, tsval, tsecr


def established_cases(peer, results):
    s = socket.create_connection((peer.a.dst_ip, peer.a.port), timeout=10)
    lport = s.getsockname()[1]
    s.sendall(b'hello')
    assert recv_exactly(s, 5) == b'hello', 'no echo'
    K, T, win, tsval, tsecr = tuple_state(peer, lport)
    emit({'established': {'lport': lport, 'rcv_nxt': K, 'snd_nxt': T, 'win': win, 'tsval': tsval}})

    def seg(seq, ack=None, flags=ACK, **kw):
        opts = kw.pop('options', None)
        if opts is None:
            opts = ts_option(tsval, tsecr) if tsval else b''
        return peer.segment(lport, seq, T if ack is None else ack, flags=flags, window=win, options=opts, **kw)

    far = 1 << 30
    cases = [
        # RFC 5961 3.2: an RST in the window but not at RCV.NXT earns a challenge ACK.
        ('est-rst-in-window', [seg(K + 1000, flags=RST | ACK)], 'ack', {'tcp-rst-in-window': 1}, 1),
        ('est-rst-in-window-no-ack', [seg(K + 1, ack=0, flags=RST)], 'ack', {'tcp-rst-in-window': 1}, 1),
        # Outside the window: silently dropped (RFC 9293 3.10.7.4: no ACK for an RST).
        ('est-rst-far-ahead', [seg(K + far, flags=RST | ACK)], 'none', {'tcp-outside-window': 1}, 0),
        ('est-rst-behind', [seg(K - far, flags=RST | ACK)], 'none', {'tcp-old-duplicate': 1}, 0),
        # RFC 5961 4.2: a SYN in a synchronized state earns a challenge ACK...
        ('est-syn-in-window', [seg(K + 10, ack=0, flags=SYN)], 'ack', {'tcp-syn-in-window': 1}, 1),
        ('est-syn-at-rcv-nxt', [seg(K, ack=0, flags=SYN)], 'ack', {'tcp-syn-in-window': 1}, 1),
        # ...and outside the window it is unacceptable: an ACK, and the drop.
        ('est-syn-far-ahead', [seg(K + far, ack=0, flags=SYN)], 'ack', {'tcp-outside-window': 1}, 0),
        # Data far outside the window or entirely old: an ACK says where we are.
        ('est-data-far-ahead', [seg(K + far, payload=b'X' * 100)], 'ack', {'tcp-outside-window': 1}, 0),
        ('est-data-old', [seg(K - 100000, payload=b'X' * 100)], 'ack', {'tcp-old-duplicate': 1}, 0),
        # RFC 5961 5.2: data at RCV.NXT whose ACK is far below SND.UNA: a challenge ACK, no data taken.
        ('est-data-ack-too-old', [seg(K, ack=T - far, payload=b'X' * 100)], 'ack', {}, 1),
        # RFC 9293 3.10.7.4: an ACK of something not yet sent: an ACK, the segment dropped.
        ('est-data-ack-unsent', [seg(K, ack=T + far, payload=b'X' * 100)], 'ack', {}, 0),
        # Malformed headers on the connection's four-tuple: dropped before they reach it.
        ('est-bad-checksum', [seg(K, payload=b'X' * 100, bad_csum=True)], 'none', {'tcp-bad-checksum': 1}, 0),
        ('est-data-offset-4', [seg(K, payload=b'X' * 100, doff=4, options=b'')], 'none', {'tcp-bad-data-offset': 1}, 0),
        ('est-data-offset-beyond', [seg(K, doff=15, options=b'')], 'none', {'tcp-bad-data-offset': 1}, 0),
        ('est-option-length-0', [seg(K, payload=b'X' * 10, options=b'\x01\x01\x08\x00' + b'\0' * 8)], 'none', {'tcp-bad-options': 1}, 0),
        ('est-option-overlong', [seg(K, payload=b'X' * 10, options=b'\x01\x01\x05\x30' + b'\0' * 8)], 'none', {'tcp-bad-options': 1}, 0),
        ('est-syn-fin', [seg(K, flags=SYN | FIN | ACK)], 'none', {'tcp-bad-flags': 1}, 0),
        ('est-syn-rst', [seg(K, flags=SYN | RST)], 'none', {'tcp-bad-flags': 1}, 0),
        # An urgent pointer past the (empty) data: noted and ignored (RFC 6093), nothing to answer.
        ('est-urgent-past-data', [seg(K, flags=ACK | URG, urg=5000)], 'none', {'tcp-urgent-ignored': 1}, 0),
    ]
    for name, frames, want, reasons, challenges in cases:
        reasons = dict(reasons)
        if challenges:
            reasons['challengeAcks'] = challenges
        run_case(peer, results, 'established', name, lport, frames, want, reasons, ack_of=K)

    # Urgent data from the kernel itself (MSG_OOB: URG, pointer after the byte): delivered inline.
    s.send(b'!', socket.MSG_OOB)
    oob = recv_exactly(s, 1)
    res = {'case': 'est-kernel-urgent-byte', 'group': 'established', 'want': 'echo', 'got': [repr(oob)],
           'ok': oob == b'!', 'reasons': {'tcp-urgent-ignored': 1}}
    results.append(res)
    emit(res)

    # The connection still works and nothing injected got into the stream.
    s.sendall(b'after the storm')
    back = recv_exactly(s, len(b'after the storm'))
    s.settimeout(0.5)
    try:
        extra = s.recv(4096)
    except socket.timeout:
        extra = b''
    res = {'case': 'est-echo-intact', 'group': 'established', 'want': 'echo', 'got': [repr(back), repr(extra)],
           'ok': back == b'after the storm' and extra == b'', 'reasons': {}}
    results.append(res)
    emit(res)
    return s, lport


def exact_rst(peer, results, s, lport):
    """RFC 5961 3.2: an RST at exactly RCV.NXT resets; the kernel's next segment meets a RST."""
    K, T, win, tsval, tsecr = tuple_state(peer, lport)
    run_case(peer, results, 'established', 'est-rst-exact', lport,
             [peer.segment(lport, K, T, flags=RST | ACK, window=win)], 'none', {})
    # The kernel does not know: its next data gets a RST from tapstack, and the socket an error.
    err = None
    try:
        s.sendall(b'are you there')
        s.settimeout(5)
        d = s.recv(100)
        err = 'eof' if d == b'' else 'data %r' % d
    except (ConnectionResetError, BrokenPipeError) as e:
        err = type(e).__name__
    except socket.timeout:
        err = 'timeout'
    res = {'case': 'est-rst-exact-reset', 'group': 'established', 'want': 'reset', 'got': [err],
           'ok': err in ('ConnectionResetError', 'BrokenPipeError'), 'reasons': {'connectionsReset': 1}}
    results.append(res)
    emit(res)
    s.close()


# ---- zero window ----

WSCALE_SYSCTL = '/proc/sys/net/ipv4/tcp_window_scaling'


def zero_window_case(peer, results):
    # Without window scaling for this connection: with it, tapstack's right window edge moves in
    # bytes while the window field counts units of 2^shift, so a window advertised as 0 may still
    # have up to 2^shift - 1 bytes of room (RFC 7323 2.4), and data sent "into the zero window"
    # at RCV.NXT would be taken in part (and would desynchronise the kernel's connection).
    with open(WSCALE_SYSCTL) as f:
        wscale_was = f.read().strip()
    with open(WSCALE_SYSCTL, 'w') as f:
        f.write('0')
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        s.connect((peer.a.dst_ip, peer.a.port))
    finally:
        with open(WSCALE_SYSCTL, 'w') as f:
            f.write(wscale_was)
    lport = s.getsockname()[1]
    s.setblocking(False)
    block = bytes((i * 7) % 251 for i in range(65536))
    sent = 0
    deadline = time.time() + 30
    zero_at = None
    # Send without reading until tapstack advertises a zero window (its buffer and the echo's
    # are full because the kernel does not take the echo), then a little longer.
    while time.time() < deadline:
        try:
            n = s.send(block[sent % len(block):] if sent % len(block) else block)
            sent += n
        except BlockingIOError:
            select.select([], [s], [], 0.05)
        z = peer.last('out', lport, lambda r: r['win'] == 0 and not r['flags'] & (SYN | RST))
        if z is not None:
            if zero_at is None:
                zero_at = time.time()
            elif time.time() - zero_at > 0.5:
                break
    # Let the sniffer catch up with the traffic (scapy dissects slower than the link runs),
    # then take tapstack's latest segment: it must still advertise a zero window.
    time.sleep(1.0)
    z = peer.last('out', lport)
    if z is not None and z['win'] != 0:
        z = None
    if z is None:
        res = {'case': 'zero-window-data', 'group': 'zero-window', 'want': 'ack', 'got': ['no zero window after %d bytes' % sent], 'ok': False, 'reasons': {}}
        results.append(res)
        emit(res)
        s.close()
        return
    K = z['ack']
    kin = peer.last('in', lport)
    T = kin['ack']
    # A TSval ahead of the kernel's: the kernel's zero-window probes go on while the sniffer
    # catches up, and one it has not shown yet may have moved TS.Recent past the last TSval it
    # did show (the segment would then be a PAWS drop, not a zero-window one). A TSval from the
    # future is no PAWS failure (RFC 7323 5.3), and an unacceptable segment does not become
    # TS.Recent (RFC 7323 4.3), so it leaves the connection as it was.
    tsval = (kin['ts'][0] + 1000) & 0xffffffff if kin['ts'] else 0
    tsecr = z['ts'][0] if z['ts'] else 0
    opts = ts_option(tsval, tsecr) if tsval else b''
    run_case(peer, results, 'zero-window', 'zero-window-data', lport,
             [peer.segment(lport, K, T, flags=ACK | PSH, window=kin['win'], options=opts, payload=b'Z' * 200)],
             'ack', {'tcp-zero-window': 1}, ack_of=K)
    # Read everything back: exactly what was sent, in order, without the injected bytes.
    s.setblocking(True)
    s.settimeout(20)
    expect_total = sent
    got = 0
    ok = True
    pos = 0
    # Finish sending nothing more; read the echo of everything sent.
    stalled = None
    while got < expect_total:
        try:
            d = s.recv(1 << 20)
        except socket.timeout:
            stalled = 'no data for 20 s after %d of %d bytes' % (got, expect_total)
            break
        if not d:
            break
        for i in range(0, len(d), 4096):
            chunk = d[i:i + 4096]
            start = pos % len(block)
            ref = (block + block)[start:start + len(chunk)]
            if chunk != ref:
                ok = False
            pos += len(chunk)
        got += len(d)
    tail = b''
    if stalled is None:
        s.shutdown(socket.SHUT_WR)
        try:
            tail = s.recv(100)
        except socket.timeout:
            tail = b'(timeout)'
    else:
        os.system('ss -tnio')
    s.close()
    res = {'case': 'zero-window-echo-intact', 'group': 'zero-window', 'want': 'echo',
           'got': ['sent %d, echoed %d, pattern %s, tail %r%s' % (sent, got, 'ok' if ok else 'MISMATCH', tail, ', ' + stalled if stalled else '')],
           'ok': ok and got == sent and tail == b'' and stalled is None, 'reasons': {}}
    results.append(res)
    emit(res)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--iface', required=True)
    ap.add_argument('--dst-mac', required=True)
    ap.add_argument('--dst-ip', required=True)
    ap.add_argument('--src-ip', required=True)
    ap.add_argument('--port', type=int, required=True, help='an echo service of tapstack')
    ap.add_argument('--groups', default='listener,established,zero-window')
    a = ap.parse_args()
    peer = Peer(a)
    peer.sniffer.start()
    time.sleep(0.5)
    results = []
    groups = a.groups.split(',')
    try:
        if 'listener' in groups:
            listener_cases(peer, results)
        if 'established' in groups:
            s, lport = established_cases(peer, results)
        if 'zero-window' in groups:
            zero_window_case(peer, results)
        if 'established' in groups:
            exact_rst(peer, results, s, lport)
    finally:
        time.sleep(0.2)
        peer.sniffer.stop()
    totals = {}
    for r in results:
        for k, v in r['reasons'].items():
            totals[k] = totals.get(k, 0) + v
    emit({'summary': {'cases': len(results), 'failed': [r['case'] for r in results if not r['ok']], 'reasons': totals}})
    return 0


if __name__ == '__main__':
    sys.exit(main())
