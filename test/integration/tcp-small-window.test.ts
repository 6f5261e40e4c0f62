/**
 * Regression test of a bug the TCP integration tests found, fixed in 0793d66: a
 * tapstack sender stalled for good when the peer's window was open but smaller than a segment.
 *
 * Seen first with 200 echo connections at offloads off (tcp-concurrent.test.ts): the kernel's
 * receiving sockets, read slowly by the client, shrank their window to a few KiB; tapstack held
 * back because of its sender-side SWS avoidance (it sends less than an MSS only if that is at
 * least half the largest window the peer offered, RFC 9293 3.8.6.2.1) and, with nothing in
 * flight, nothing ever woke it: its persist timer ran only for a window of exactly zero, and it
 * had no override timeout (RFC 9293 3.8.6.2.1 and RFC 1122 4.2.3.4: send anyway after 0.1 to
 * 1 s). The kernel, whose window grows only as data arrives, sent nothing either. Linux as a
 * sender arms its probe timer whenever data waits and nothing is in flight (tcp_check_probe_timer)
 * and then sends what the window allows (tcp_write_wakeup).
 *
 * Here a scripted peer (scapy, on the kernel's side of the TAP, with an address and MAC of its
 * own that the kernel does not answer for) makes it deterministic: it fetches /bytes/1048576
 * from tapstack's http service, offering 65535 bytes of window (no window scaling, MSS 1460) and
 * never reading: every ACK keeps the window's right edge where it was. tapstack fills the window
 * with full segments until less than one segment is left (65535 - 44 * 1460 = 1295 bytes), all
 * of it acknowledged. Then the peer waits 3 s for the rest of the window (or at least a probe).
 *
 * Namespaces tapstack-it-tcpswnd-{on,off}-<pid>; subnets 198.18.160.0/24, 198.18.161.0/24
 * (the scripted peer is 198.18.X.3).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { nsRun, PYTHON, requireBuilt, scratchDir, subnet, useNamespace } from './helpers.js';
import { captureSummary, checkCapture, killStarted, RST_WARNING, show, withTapstack, type CaptureCheck, type Mode, type Run } from './tcp-helpers.js';

const PEER = String.raw`
import json, random, select, sys, time
from scapy.all import ARP, IP, TCP, Ether, Raw, conf
conf.verb = 0
iface, my_ip, my_mac, ts_ip, ts_mac, port, path, wait_s = sys.argv[1:9]
port = int(port); wait_s = float(wait_s)
RWND = 65535
MSS = 1460
s = conf.L2socket(iface=iface)
out = {'handshake': False, 'bodyOk': None}

def send(p):
    s.send(Ether(src=my_mac, dst=ts_mac) / p)

def recv(timeout):
    """The next TCP segment from tapstack to us (answering ARP on the way), or None."""
    end = time.time() + timeout
    while True:
        left = end - time.time()
        if left <= 0:
            return None
        r, _, _ = select.select([s.ins], [], [], left)
        if not r:
            return None
        p = s.recv()
        if p is None or Ether not in p or p[Ether].src.lower() != ts_mac.lower():
            continue
        if ARP in p and p[ARP].op == 1 and p[ARP].pdst == my_ip:
            s.send(Ether(src=my_mac, dst=ts_mac) / ARP(op=2, hwsrc=my_mac, psrc=my_ip, hwdst=p[ARP].hwsrc, pdst=p[ARP].psrc))
            continue
        if IP in p and TCP in p and p[IP].src == ts_ip and p[IP].dst == my_ip and p[TCP].dport == sport:
            return p

# Introduce ourselves (tapstack learns the sender of an ARP request for its address).
s.send(Ether(src=my_mac, dst='ff:ff:ff:ff:ff:ff') / ARP(op=1, hwsrc=my_mac, psrc=my_ip, pdst=ts_ip))
sport = random.randint(20000, 60000)
iss = random.randint(0, 2**31)
ip = IP(src=my_ip, dst=ts_ip)
for attempt in range(5):
    send(ip / TCP(sport=sport, dport=port, flags='S', seq=iss, window=RWND, options=[('MSS', MSS)]))
    p = recv(2)
    if p is not None and p[TCP].flags.S and p[TCP].flags.A and p[TCP].ack == iss + 1:
        break
else:
    print(json.dumps(out)); sys.exit(1)
out['handshake'] = True
rcv_nxt = p[TCP].seq + 1
right_edge = rcv_nxt + RWND   # the application never reads: the right edge stays here
req = ('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (path, ts_ip)).encode()
snd_nxt = iss + 1 + len(req)
send(ip / TCP(sport=sport, dport=port, flags='PA', seq=iss + 1, ack=rcv_nxt, window=RWND) / Raw(req))
data = bytearray()
def ack():
    send(ip / TCP(sport=sport, dport=port, flags='A', seq=snd_nxt, ack=rcv_nxt, window=max(0, right_edge - rcv_nxt)))

small_at = None
after = {'bytes': 0, 'segments': 0, 'firstMs': None}
deadline = time.time() + 30
while time.time() < deadline:
    p = recv(0.2 if small_at is None else max(0.01, small_at + wait_s - time.time()))
    if p is not None:
        payload = bytes(p[TCP].payload)
        if payload and p[TCP].seq == rcv_nxt:
            data += payload
            rcv_nxt += len(payload)
            if small_at is not None:
                after['bytes'] += len(payload); after['segments'] += 1
                if after['firstMs'] is None:
                    after['firstMs'] = round((time.time() - small_at) * 1000)
            ack()
        elif payload or p[TCP].flags.F:
            if small_at is not None:
                after['segments'] += 1
            ack()
    if small_at is None and 0 < right_edge - rcv_nxt < MSS:
        small_at = time.time()
        out['windowLeft'] = right_edge - rcv_nxt
        out['receivedBefore'] = len(data)
    if small_at is not None and time.time() >= small_at + wait_s:
        break
out['after'] = after
# The body must be the pattern: byte i is i mod 251.
head, sep, body = bytes(data).partition(b'\r\n\r\n')
out['status'] = head.split(b'\r\n')[0].decode(errors='replace')
out['bodyOk'] = bool(sep) and all(b == i % 251 for i, b in enumerate(body))
send(ip / TCP(sport=sport, dport=port, flags='R', seq=snd_nxt))
print(json.dumps(out))
`;

interface PeerReport {
  handshake: boolean;
  status?: string;
  bodyOk: boolean | null;
  windowLeft?: number;
  receivedBefore?: number;
  after?: { bytes: number; segments: number; firstMs: number | null };
}

beforeAll(() => requireBuilt());

describe.each(['off', 'on'] as const)('a window smaller than a segment, offload %s', (offload) => {
  const mode: Mode = { offload, mtu: 1500 };
  const net = subnet(offload === 'off' ? 160 : 161);
  const peerIp = `198.18.${net.x}.3`;
  const peerMac = '02:54:53:00:00:03';
  const scratch = scratchDir(`tcpswnd-${offload}`);
  const ns = useNamespace(`tcpswnd-${offload}`, { stop: killStarted, after: scratch.remove });
  const pcap = `${scratch.dir}/swnd.pcap`;
  let run: Run<PeerReport>;
  let check: CaptureCheck;

  beforeAll(async () => {
    run = await withTapstack({ ns, net, offload, mtu: 1500, pcap, extra: ['--serve', 'http:80'] }, async (t) => {
      const r = await nsRun(ns, PYTHON, ['-c', PEER, 'tap0', peerIp, peerMac, net.tapstack, t.mac, '80', '/bytes/1048576', '3'], { timeoutMs: 60_000 });
      if (r.code !== 0 && r.stdout.trim() === '') throw new Error(`scripted peer: exit ${r.code}\n${r.stdout}${r.stderr}`);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as PeerReport;
    });
    // The peer resets the connection at the end; no kernel TCP is involved (tap counters: none).
    check = await checkCapture(pcap, { net, mode, tap: run.tap, accept: [RST_WARNING], counters: run.stopped.counters });
  }, 120_000);

  it('fills the window with full segments until less than one segment is left', () => {
    const r = run.value;
    console.log(`[offload ${offload}] scripted peer: ${JSON.stringify(r)}`);
    expect(r.handshake, JSON.stringify(r)).toBe(true);
    expect(r.status).toBe('HTTP/1.1 200 OK');
    expect(r.bodyOk, JSON.stringify(r)).toBe(true);
    expect(r.windowLeft, JSON.stringify(r)).toBeGreaterThan(0);
    expect(r.windowLeft, JSON.stringify(r)).toBeLessThan(1460);
    expect(r.receivedBefore, JSON.stringify(r)).toBe(65535 - r.windowLeft!);
    const why = captureSummary(check);
    expect(check.problems, why).toEqual([]);
    expect(check.tcpChecksumNotGood, why).toEqual([]);
    expect(check.tcpChecksumGood, why).toBe(check.tcpFrames);
  });

  // Failed before 0793d66: no override timeout for a window open but below one segment (see the
  // header): nothing was sent, ever.
  it('sends into the rest of the window (or probes it) within 3 s, with nothing in flight', () => {
    const r = run.value;
    expect(r.after?.segments ?? 0, show({ code: 0, signal: null, stdout: JSON.stringify(r), stderr: '', ms: 0, timedOut: false })).toBeGreaterThan(0);
  });
});
