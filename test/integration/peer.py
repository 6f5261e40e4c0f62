#!/usr/bin/python3
"""Scripted peers against tapstack, from the kernel's side of the TAP.

Run inside a test's network namespace with Debian's python (python3-scapy):

    /usr/bin/python3 peer.py MODE --iface tap0 --dst-mac MAC --dst-ip 198.18.X.2 \\
        --src-ip 198.18.X.9 [--port P] [options of the mode]

The peer is a host of its own on the TAP's link: an address that is not the kernel's
(`--src-ip`) and a locally administered MAC (`--src-mac`); it announces itself with an ARP
request to tapstack and answers tapstack's ARP requests for its address. tapstack's frames to
it reach the kernel's side of the TAP addressed to a MAC that is not the kernel's, so the kernel
drops them before IP (PACKET_OTHERHOST) and never answers them with an RST of its own for a port
it has no socket on (RFC 9293 3.10.7.1): no firewall is needed in the namespace.

TCP segments are built byte by byte (exact options, SACK edges anywhere in sequence space);
scapy builds the ARP packets. Frames go out on one AF_PACKET socket and are read back, both
ways, on another with kernel timestamps (SO_TIMESTAMPNS), so all times are on one clock as on
the wire.

Modes (each prints one JSON object on its last line):

- tail: connect with MSS 1460, SACK-permitted, timestamps and window scale (as Linux), then
  `--request echo`: send 1448 bytes, wait for their echo, send 552 more; or `--request http`:
  send one GET. Never acknowledge tapstack's data; watch for `--observe` seconds, then reset the
  connection. Reports every segment of both sides with its time relative to the peer's last
  data segment, and what tapstack's stream held (the echo compared, or the HTTP response parsed).
- fin: connect as above, stay idle `--idle` seconds, then send `--bytes` bytes with FIN in one
  segment; acknowledge what tapstack answers (its FIN included). The test reads the capture.
- sack: connect with SACK-permitted and without timestamps (so four SACK blocks fit in the 40
  bytes of options, RFC 2018 3), GET /bytes/N over HTTP and download it, acknowledging
  cumulatively, each ACK with four SACK blocks that name nothing received: random 32-bit edges,
  D-SACK-looking blocks below the ACK (recent and very old), blocks beyond the window, reversed
  blocks. Reports what arrived and whether it is the /bytes pattern.
- arp: ARP requests (broadcast and unicast) and replies to tapstack with sender hardware address
  00:00:00:00:00:00, ff:ff:ff:ff:ff:ff, a multicast MAC and tapstack's own MAC, each with sender
  IPs in the subnet (the kernel's address among them), from the kernel's MAC. Reports them.
"""
import argparse
import json
import os
import queue
import random
import socket
import struct
import sys
import threading
import time

from scapy.all import ARP, Ether, get_if_hwaddr

from inet import ACK, FIN, M32, PSH, RST, SYN, checksum, flag_str, ip_bytes, mac_bytes

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = getattr(socket, 'SO_TIMESTAMPNS', 35)
SO_RCVBUFFORCE = getattr(socket, 'SO_RCVBUFFORCE', 33)


def mac_str(b):
    return ':'.join('%02x' % x for x in b)


def seq_lt(a, b):
    return ((a - b) & M32) > 0x7FFFFFFF


def pattern(n, start=0):
    """n bytes of tapstack's /bytes pattern (byte i is i mod 251) from stream offset start."""
    period = bytes(range(251))
    off = start % 251
    reps = (off + n) // 251 + 1
    return (period * reps)[off:off + n]


def parse_tcp_options(b):
    out = {'mss': None, 'ws': None, 'sack_ok': False, 'ts': None, 'sack': []}
    i = 0
    while i < len(b):
        kind = b[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(b):
            break
        ln = b[i + 1]
        if ln < 2 or i + ln > len(b):
            break
        body = b[i + 2:i + ln]
        if kind == 2 and ln == 4:
            out['mss'] = struct.unpack('!H', body)[0]
        elif kind == 3 and ln == 3:
            out['ws'] = body[0]
        elif kind == 4:
            out['sack_ok'] = True
        elif kind == 8 and ln == 10:
            out['ts'] = struct.unpack('!II', body)
        elif kind == 5:
            out['sack'] = [struct.unpack('!II', body[j:j + 8]) for j in range(0, len(body) - 7, 8)]
        i += ln
    return out


class Wire:
    """The TAP's link as the peer sees it: send frames, read every frame both ways with its time."""

    def __init__(self, a):
        self.a = a
        self.iface = a.iface
        self.mac = mac_bytes(a.src_mac)
        self.kernel_mac = mac_bytes(get_if_hwaddr(a.iface))
        self.dst_mac = mac_bytes(a.dst_mac)
        self.src_ip = ip_bytes(a.src_ip)
        self.dst_ip = ip_bytes(a.dst_ip)
        self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            self.rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
        except OSError:
            self.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        self.rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.rx.bind((a.iface, 0))
        self.rx.settimeout(0.1)
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.tx.bind((a.iface, 0))
        self.ip_id = random.randrange(1 << 16)
        self.lock = threading.Lock()
        self.tcp = []  # every TCP record between the peer and tapstack, both ways
        self.arp = []  # every ARP packet from tapstack
        self.from_tapstack = queue.Queue()  # TCP records from tapstack, for the peer's logic
        self.arp_answered = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.thread.join(2)

    def send(self, frame):
        self.tx.send(frame)

    # ---- reading ----

    def _loop(self):
        space = socket.CMSG_SPACE(16)
        while not self.stopping:
            try:
                data, anc, _flags, addr = self.rx.recvmsg(1 << 17, space)
            except socket.timeout:
                continue
            except OSError:
                if self.stopping:
                    return
                raise
            if addr[0] != self.iface:
                continue
            t = None
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack('qq', cdata[:16])
                    t = sec + nsec / 1e9
            if t is None:
                t = time.time()
            outgoing = addr[2] == PACKET_OUTGOING  # sent on the TAP, toward tapstack
            try:
                self._frame(data, t, outgoing)
            except (struct.error, IndexError):
                pass

    def _frame(self, data, t, outgoing):
        if len(data) < 14:
            return
        etype = struct.unpack('!H', data[12:14])[0]
        if etype == ETH_P_ARP and not outgoing:
            self._arp(data, t)
            return
        if etype != ETH_P_IP:
            return
        ip = data[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 6:
            return
        src, dst = ip[12:16], ip[16:20]
        if outgoing and (src, dst) == (self.src_ip, self.dst_ip):
            d = 'to'
        elif not outgoing and (src, dst) == (self.dst_ip, self.src_ip):
            d = 'from'
        else:
            return
        total = struct.unpack('!H', ip[2:4])[0]
        tcp = ip[ihl:total]
        sport, dport, seq, ack, off, flags, win = struct.unpack('!HHIIBBH', tcp[:16])
        hl = (off >> 4) * 4
        opts = parse_tcp_options(tcp[20:hl])
        payload = bytes(tcp[hl:])
        rec = {
            't': t, 'dir': d, 'sport': sport, 'dport': dport, 'seq': seq, 'ack': ack, 'flags': flags,
            'win': win, 'len': len(payload), 'opts': opts, 'payload': payload,
        }
        with self.lock:
            self.tcp.append(rec)
        if d == 'from':
            self.from_tapstack.put(rec)

    def _arp(self, data, t):
        op = struct.unpack('!H', data[20:22])[0]
        sha, spa, tha, tpa = data[22:28], data[28:32], data[32:38], data[38:42]
        if spa != self.dst_ip:
            return
        with self.lock:
            self.arp.append({'t': t, 'op': op, 'eth_dst': mac_str(data[0:6]), 'tha': mac_str(tha), 'tpa': socket.inet_ntoa(tpa)})
        if op == 1 and tpa == self.src_ip:
            # RFC 826: who has our address? Tell tapstack.
            self.send(bytes(Ether(dst=mac_str(sha), src=mac_str(self.mac)) /
                            ARP(op=2, hwsrc=mac_str(self.mac), psrc=self.a.src_ip, hwdst=mac_str(sha), pdst=self.a.dst_ip)))
            self.arp_answered += 1

    def sent_time(self, seq, flags, timeout=2.0):
        """Kernel timestamp of the peer's own segment (as read back from the TAP)."""
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                for r in reversed(self.tcp):
                    if r['dir'] == 'to' and r['seq'] == seq and r['flags'] == flags:
                        return r['t']
            time.sleep(0.002)
        return None

    # ---- writing ----

    def tcp_frame(self, sport, dport, seq, ack, flags, window, options=b'', payload=b''):
        hl = 20 + len(options)
        assert hl % 4 == 0 and hl <= 60, 'options must fill whole words'
        tcp = struct.pack('!HHIIBBHHH', sport, dport, seq & M32, ack & M32, (hl // 4) << 4, flags, window, 0, 0) + options + payload
        pseudo = self.src_ip + self.dst_ip + struct.pack('!BBH', 0, 6, len(tcp))
        c = checksum(pseudo + tcp)
        tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), self.ip_id, 0x4000, 64, 6, 0, self.src_ip, self.dst_ip)
        ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
        return self.dst_mac + self.mac + struct.pack('!H', ETH_P_IP) + ip + tcp

    def announce(self, timeout=5.0):
        """ARP request to tapstack from the peer's address: tapstack answers and learns the peer (RFC 826)."""
        frame = bytes(Ether(dst='ff:ff:ff:ff:ff:ff', src=mac_str(self.mac)) /
                      ARP(op=1, hwsrc=mac_str(self.mac), psrc=self.a.src_ip, hwdst='00:00:00:00:00:00', pdst=self.a.dst_ip))
        end = time.time() + timeout
        while time.time() < end:
            self.send(frame)
            t0 = time.time()
            while time.time() - t0 < 0.5:
                with self.lock:
                    if any(r['op'] == 2 and r['tpa'] == self.a.src_ip for r in self.arp):
                        return True
                time.sleep(0.01)
        return False


class Conn:
    """One TCP connection of the peer to tapstack (RFC 9293), driven by hand."""

    def __init__(self, wire, dport, ts=True, sack=True, wscale=7, window=64240, sport=None):
        self.w = wire
        self.sport = sport or random.randrange(40000, 60000)
        self.dport = dport
        self.ts_on = ts
        self.sack_on = sack
        self.wscale = wscale
        self.window = window
        self.iss = random.randrange(1 << 32)
        self.snd_nxt = self.iss
        self.irs = None
        self.rcv_nxt = None
        self.ts_recent = 0
        self.t0 = time.monotonic()
        self.ts_base = random.randrange(1 << 31)
        self.peer_opts = None

    def tsval(self):
        return (self.ts_base + int((time.monotonic() - self.t0) * 1000)) & M32

    def options(self, syn=False, sack_blocks=()):
        o = b''
        if syn:
            o += struct.pack('!BBH', 2, 4, 1460)
            if self.sack_on and self.ts_on:
                o += b'\x04\x02' + struct.pack('!BBII', 8, 10, self.tsval(), 0)
            elif self.sack_on:
                o += b'\x01\x01\x04\x02'
            elif self.ts_on:
                o += b'\x01\x01' + struct.pack('!BBII', 8, 10, self.tsval(), 0)
            if self.wscale is not None:
                o += b'\x01' + struct.pack('!BBB', 3, 3, self.wscale)
            return o
        if self.ts_on:
            o += b'\x01\x01' + struct.pack('!BBII', 8, 10, self.tsval(), self.ts_recent)
        if sack_blocks:
            o += b'\x01\x01' + struct.pack('!BB', 5, 2 + 8 * len(sack_blocks))
            for le, re in sack_blocks:
                o += struct.pack('!II', le & M32, re & M32)
        return o

    def win_field(self):
        return min(0xFFFF, self.window >> (self.wscale or 0)) if self.irs is not None else min(0xFFFF, self.window)

    def send(self, flags, payload=b'', seq=None, ack=None, sack_blocks=()):
        seq = self.snd_nxt if seq is None else seq
        ack = (self.rcv_nxt if ack is None else ack) or 0
        if self.rcv_nxt is not None:
            flags |= ACK if not flags & RST else 0
        f = self.w.tcp_frame(self.sport, self.dport, seq, ack, flags, self.win_field(),
                             self.options(syn=bool(flags & SYN), sack_blocks=sack_blocks), payload)
        self.w.send(f)
        return seq

    def take(self, rec):
        if rec['opts']['ts']:
            self.ts_recent = rec['opts']['ts'][0]

    def mine(self, rec):
        return rec['sport'] == self.dport and rec['dport'] == self.sport

    def next(self, timeout):
        """tapstack's next segment on this connection, or None after `timeout` seconds."""
        end = time.time() + timeout
        while True:
            left = end - time.time()
            if left <= 0:
                return None
            try:
                r = self.w.from_tapstack.get(timeout=left)
            except queue.Empty:
                return None
            if self.mine(r):
                self.take(r)
                return r

    def connect(self, timeout=5.0):
        """Three-way handshake; the SYN is resent once a second (RFC 6298 2.1's initial RTO)."""
        end = time.time() + timeout
        while time.time() < end:
            self.send(SYN)
            r = self.next(1.0)
            while r is not None and not (r['flags'] & (SYN | ACK) == (SYN | ACK) and r['ack'] == (self.iss + 1) & M32):
                r = self.next(1.0)
            if r is not None:
                self.peer_opts = r['opts']
                self.irs = r['seq']
                self.rcv_nxt = (r['seq'] + 1) & M32
                self.snd_nxt = (self.iss + 1) & M32
                if not r['opts']['ts']:
                    self.ts_on = False
                if not r['opts']['sack_ok']:
                    self.sack_on = False
                if r['opts']['ws'] is None:
                    self.wscale = None
                self.send(ACK)
                return True
        return False

    def send_data(self, payload, flags=PSH):
        seq = self.send(flags | ACK, payload)
        self.snd_nxt = (self.snd_nxt + len(payload) + (1 if flags & FIN else 0)) & M32
        return seq

    def rel(self, seq):
        return (seq - self.irs - 1) & M32 if self.irs is not None else seq

    def rel_peer(self, seq):
        return (seq - self.iss - 1) & M32


def segment_list(wire, conn, t_ref):
    """Both sides' segments on the connection, times in ms from t_ref, sequence numbers relative."""
    out = []
    with wire.lock:
        recs = list(wire.tcp)
    for r in recs:
        if r['dir'] == 'from' and not conn.mine(r):
            continue
        if r['dir'] == 'to' and not (r['sport'] == conn.sport and r['dport'] == conn.dport):
            continue
        frm = r['dir'] == 'from'
        out.append({
            'from': 'tapstack' if frm else 'peer',
            't_ms': round((r['t'] - t_ref) * 1000, 3),
            'flags': flag_str(r['flags']),
            'seq': conn.rel(r['seq']) if frm else conn.rel_peer(r['seq']),
            'ack': (conn.rel_peer(r['ack']) if frm else conn.rel(r['ack'])) if r['flags'] & ACK else None,
            'len': r['len'],
            'win': r['win'],
        })
    return out


def stream_of(wire, conn):
    """tapstack's byte stream as it first arrived (from sequence number IRS+1), and whether a FIN came."""
    buf = bytearray()
    fin = False
    with wire.lock:
        recs = [r for r in wire.tcp if r['dir'] == 'from' and conn.mine(r)]
    pieces = {}
    for r in recs:
        if r['len'] and not r['flags'] & SYN:
            off = conn.rel(r['seq'])
            if off < 1 << 30:
                pieces.setdefault(off, r['payload'])
        if r['flags'] & FIN:
            fin = True
    for off in sorted(pieces):
        p = pieces[off]
        if off <= len(buf) < off + len(p):
            buf += p[len(buf) - off:]
    return bytes(buf), fin


# ---- modes ----

def mode_tail(a, w):
    c = Conn(w, a.port)
    if not c.connect():
        return {'ok': False, 'error': 'no SYN-ACK'}
    sent = b''
    if a.request == 'echo':
        first = bytes((i * 7 + 3) % 256 for i in range(1448))
        second = bytes((i * 13 + 5) % 256 for i in range(552))
        c.send_data(first)
        sent += first
        # Wait for the echo of the first segment: the tail is then written while that full-sized
        # segment is unacknowledged, whatever the batching of the two on tapstack's side.
        got = False
        end = time.time() + 5
        while time.time() < end and not got:
            r = c.next(end - time.time())
            got = r is not None and r['len'] > 0
        if not got:
            return {'ok': False, 'error': 'no echo of the first 1448 bytes within 5 s',
                    'segments': segment_list(w, c, time.time())}
        seq = c.send_data(second)
        sent += second
    else:
        req = ('GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tapstack-peer\r\n\r\n' % (a.path, a.dst_ip)).encode()
        seq = c.send_data(req)
    t_last = w.sent_time(seq, ACK | PSH)
    time.sleep(a.observe)
    # End it: an RST at exactly RCV.NXT of tapstack (our SND.NXT) resets (RFC 5961 3.2).
    c.send(RST | ACK, ack=c.rcv_nxt)
    time.sleep(0.1)
    if t_last is None:
        return {'ok': False, 'error': 'the peer did not see its own last segment on the TAP'}
    stream, fin = stream_of(w, c)
    res = {'ok': True, 'sport': c.sport, 'mss_sent': 1460, 'tapstack_mss': c.peer_opts['mss'],
           'timestamps': c.ts_on, 'sack': c.sack_on, 'segments': segment_list(w, c, t_last)}
    if a.request == 'echo':
        res['echo'] = {'sent': len(sent), 'received': len(stream), 'same': stream == sent}
    else:
        head, _, body = stream.partition(b'\r\n\r\n')
        lines = head.decode('latin1').split('\r\n')
        length = None
        for l in lines[1:]:
            k, _, v = l.partition(':')
            if k.strip().lower() == 'content-length':
                length = int(v.strip())
        res['http'] = {'status': lines[0] if lines else '', 'header_bytes': len(head) + 4,
                       'content_length': length, 'body_bytes': len(body), 'stream_bytes': len(stream)}
    return res


def mode_fin(a, w):
    c = Conn(w, a.port)
    if not c.connect():
        return {'ok': False, 'error': 'no SYN-ACK'}
    time.sleep(a.idle)
    data = b''.join(b'%02d:tapstack-echo-fin;' % (i % 100) for i in range(a.bytes))[:a.bytes]
    seq = c.send_data(data, flags=PSH | FIN)
    t_fin = w.sent_time(seq, ACK | PSH | FIN)
    fin_seq = None
    end = time.time() + 3
    while time.time() < end:
        r = c.next(end - time.time())
        if r is None:
            break
        if r['len'] or r['flags'] & FIN:
            # Acknowledge what tapstack sent, its FIN included (RFC 9293 3.10.7.4, FIN-WAIT states).
            nxt = (r['seq'] + r['len'] + (1 if r['flags'] & FIN else 0)) & M32
            if seq_lt(c.rcv_nxt, nxt) and r['seq'] == c.rcv_nxt:
                c.rcv_nxt = nxt
            if r['flags'] & FIN:
                fin_seq = r['seq'] + r['len']
                c.send(ACK)
                break
    time.sleep(0.3)
    stream, fin = stream_of(w, c)
    return {'ok': True, 'sport': c.sport, 'sent': len(data), 'echo_same': stream == data, 'fin': fin_seq is not None,
            'segments': segment_list(w, c, t_fin or time.time())}


def sack_blocks(rng, i, ack, hi, window):
    """Four blocks naming nothing the peer holds: ACK `ack`, highest byte seen `hi`."""
    def rnd():
        return rng.randrange(1 << 32)
    beyond = (ack + window + rng.randrange(1, 1 << 20)) & M32
    kind = i % 4
    if kind == 0:
        return [(rnd(), rnd()) for _ in range(4)], ['random'] * 4
    if kind == 1:
        # A D-SACK-looking first block just below the ACK (RFC 2883 4: "the first block")...
        d = rng.randrange(0, 64 << 10)
        return [((ack - d - 1448) & M32, (ack - d) & M32), (beyond, (beyond + 1448) & M32),
                (rnd(), rnd()), ((ack - 40000) & M32, (ack - 38552) & M32)], \
            ['dsack-recent', 'beyond', 'random', 'below-una']
    if kind == 2:
        # ...one far older than anything sent on this connection, a reversed block in the window.
        return [((ack - 100_000_000) & M32, (ack - 99_998_552) & M32), ((ack + 4344) & M32, (ack + 1448) & M32),
                (rnd(), rnd()), (beyond, (beyond + 10 * 1448) & M32)], \
            ['dsack-old', 'reversed', 'random', 'beyond']
    return [(rnd(), rnd()), ((hi + (1 << 30)) & M32, (hi + (1 << 30) + 2896) & M32),
            ((ack - 2896) & M32, (ack - 1448) & M32), (rnd(), rnd())], \
        ['random', 'beyond', 'below-una', 'random']


def mode_sack(a, w):
    rng = random.Random(a.seed)
    window = 65535
    c = Conn(w, a.port, ts=False, sack=True, wscale=None, window=window)
    if not c.connect():
        return {'ok': False, 'error': 'no SYN-ACK'}
    if not c.sack_on:
        return {'ok': False, 'error': 'tapstack did not agree to SACK'}
    req = ('GET /bytes/%d HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' % (a.bytes, a.dst_ip)).encode()
    c.send_data(req)
    t0 = time.time()
    stream = bytearray()
    ooo = {}
    fin_at = None
    acks = 0
    kinds = {}
    dups = 0
    hi = c.rcv_nxt
    deadline = t0 + a.seconds
    while time.time() < deadline:
        r = c.next(min(1.0, deadline - time.time()))
        if r is None:
            if fin_at is not None:
                break
            continue
        if r['flags'] & RST:
            return {'ok': False, 'error': 'reset by tapstack after %d bytes' % len(stream)}
        if r['len'] == 0 and not r['flags'] & FIN:
            continue
        end = (r['seq'] + r['len']) & M32
        if seq_lt(hi, end):
            hi = end
        if r['seq'] == c.rcv_nxt:
            stream += r['payload']
            c.rcv_nxt = end
            while c.rcv_nxt in ooo:
                p, f = ooo.pop(c.rcv_nxt)
                stream += p
                c.rcv_nxt = (c.rcv_nxt + len(p)) & M32
                if f:
                    fin_at = c.rcv_nxt
            if r['flags'] & FIN:
                fin_at = c.rcv_nxt
        elif seq_lt(c.rcv_nxt, r['seq']):
            ooo[r['seq']] = (r['payload'], bool(r['flags'] & FIN))
        else:
            dups += 1
        if fin_at is not None and fin_at == c.rcv_nxt:
            c.rcv_nxt = (c.rcv_nxt + 1) & M32
            fin_at = -1
            c.send(ACK)
            break
        blocks, names = sack_blocks(rng, acks, c.rcv_nxt, hi, window)
        c.send(ACK, sack_blocks=blocks)
        acks += 1
        for n in names:
            kinds[n] = kinds.get(n, 0) + 1
    secs = time.time() - t0
    closed = False
    if fin_at == -1:
        # Our FIN; tapstack is in LAST-ACK after it and acknowledges it (RFC 9293 3.6).
        c.send_data(b'', flags=FIN)
        end = time.time() + 5
        while time.time() < end and not closed:
            r = c.next(end - time.time())
            if r is None:
                break
            closed = r['ack'] == c.snd_nxt and not r['flags'] & RST
    head, _, body = bytes(stream).partition(b'\r\n\r\n')
    status = head.split(b'\r\n', 1)[0].decode('latin1')
    body_ok = body == pattern(a.bytes)
    return {'ok': True, 'sport': c.sport, 'status': status, 'body_bytes': len(body), 'body_ok': body_ok,
            'fin': fin_at == -1, 'closed': closed, 'seconds': round(secs, 3), 'acks': acks, 'blocks': kinds,
            'duplicates_seen': dups}


def mode_arp(a, w):
    own = a.dst_mac.lower()
    bad = [('zero', '00:00:00:00:00:00'), ('broadcast', 'ff:ff:ff:ff:ff:ff'), ('multicast', '01:00:5e:12:34:56'), ('own', own)]
    net = a.dst_ip.rsplit('.', 1)[0]
    ips = [a.kernel_ip] + ['%s.%d' % (net, 50 + i) for i in range(len(bad))]
    kmac = mac_str(w.kernel_mac)
    sent = []
    for i, (name, mac) in enumerate(bad):
        for ip in (a.kernel_ip, ips[1 + i]):
            frames = [
                ('request-broadcast', Ether(dst='ff:ff:ff:ff:ff:ff', src=kmac) /
                 ARP(op=1, hwsrc=mac, psrc=ip, hwdst='00:00:00:00:00:00', pdst=a.dst_ip)),
                ('request-unicast', Ether(dst=own, src=kmac) /
                 ARP(op=1, hwsrc=mac, psrc=ip, hwdst='00:00:00:00:00:00', pdst=a.dst_ip)),
                ('reply', Ether(dst=own, src=kmac) / ARP(op=2, hwsrc=mac, psrc=ip, hwdst=own, pdst=a.dst_ip)),
            ]
            for kind, f in frames:
                w.send(bytes(f))
                sent.append({'sender_mac': name, 'mac': mac, 'ip': ip, 'kind': kind})
                time.sleep(0.01)
    time.sleep(0.5)
    with w.lock:
        replies = [r for r in w.arp if r['op'] == 2]
    return {'ok': True, 'sent': sent, 'tapstack_arp_replies': replies}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('mode', choices=['tail', 'fin', 'sack', 'arp'])
    ap.add_argument('--iface', default='tap0')
    ap.add_argument('--dst-mac', required=True, help="tapstack's MAC")
    ap.add_argument('--dst-ip', required=True, help="tapstack's address")
    ap.add_argument('--src-ip', required=True, help="the peer's address (not the kernel's)")
    ap.add_argument('--src-mac', default='02:70:65:65:72:09', help="the peer's MAC")
    ap.add_argument('--kernel-ip', help="the kernel's address on the TAP (arp mode)")
    ap.add_argument('--port', type=int)
    ap.add_argument('--request', choices=['echo', 'http'], default='echo')
    ap.add_argument('--path', default='/')
    ap.add_argument('--observe', type=float, default=1.5)
    ap.add_argument('--idle', type=float, default=0.3)
    ap.add_argument('--bytes', type=int, default=100)
    ap.add_argument('--seconds', type=float, default=90)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    random.seed(a.seed + os.getpid())
    w = Wire(a)
    try:
        if a.mode == 'arp':
            res = mode_arp(a, w)
        else:
            if not w.announce():
                res = {'ok': False, 'error': 'tapstack did not answer the ARP request from %s' % a.src_ip}
            else:
                res = {'tail': mode_tail, 'fin': mode_fin, 'sack': mode_sack}[a.mode](a, w)
        res['arp_answered'] = w.arp_answered
    finally:
        w.stop()
    print(json.dumps(res), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
