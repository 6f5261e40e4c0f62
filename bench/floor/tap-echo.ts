/**
 * The floor of a ping over TAP for a JavaScript process: tap-echo.c's responder, line for line,
 * in Node. It answers ARP and ICMP echo requests for one address on a TAP device it creates,
 * woken as tapstack is (libuv's uv_poll through koffi), reading and writing with one koffi call
 * each, and touches nothing else. scripts/bench pings it beside tapstack and beside the C
 * responder: the C figure is what any process answering over TAP pays on this machine, this one
 * what a Node process pays on top (the event loop's wake-up, a call into JavaScript, code that
 * runs from cold caches), and what is left above it is tapstack's own path through its layers.
 *
 *   ip netns exec NS node dist/bench/floor/tap-echo.js tap0 198.18.190.2
 *
 * It prints "ready" once the TAP exists (the caller then gives the kernel's side an address and
 * brings it up), and runs until killed.
 */
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');
const open = lib.func('int open(const char *path, int flags)') as (path: string, flags: number) => number;
const ioctl = lib.func('int ioctl(int fd, unsigned long req, void *arg)') as (fd: number, req: number, arg: Uint8Array) => number;
const read = lib.func('long read(int fd, void *buf, size_t n)') as (fd: number, buf: Uint8Array, n: number) => number;
const write = lib.func('long write(int fd, const void *buf, size_t n)') as (fd: number, buf: Uint8Array, n: number) => number;

// <fcntl.h>, <linux/if_tun.h>
const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const TUNSETIFF = 0x400454ca;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;

/** The Internet checksum (RFC 1071) of f[start, end). */
function checksum(f: Uint8Array, start: number, end: number): number {
  let s = 0;
  let i = start;
  for (; i + 1 < end; i += 2) s += (f[i]! << 8) | f[i + 1]!;
  if (i < end) s += f[i]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function main(): void {
  const [ifname, addr] = process.argv.slice(2);
  const ip = addr?.split('.').map(Number) ?? [];
  if (!ifname || ip.length !== 4 || ip.some((b) => !(b >= 0 && b <= 255))) {
    process.stderr.write('usage: tap-echo IFNAME IPV4\n');
    process.exit(2);
  }
  const mac = [0x02, 0x00, 0x00, 0x00, 0xec, 0x02];
  const fd = open('/dev/net/tun', O_RDWR | O_NONBLOCK);
  const ifr = new Uint8Array(40);
  ifr.set(Buffer.from(ifname), 0);
  ifr[16] = IFF_TAP;
  ifr[17] = IFF_NO_PI >> 8;
  if (fd < 0 || ioctl(fd, TUNSETIFF, ifr) < 0) {
    process.stderr.write(`TAP ${ifname}: open or TUNSETIFF failed\n`);
    process.exit(1);
  }
  const f = new Uint8Array(2048);
  const ours = (at: number) => f[at] === ip[0] && f[at + 1] === ip[1] && f[at + 2] === ip[2] && f[at + 3] === ip[3];
  // Held until exit: a handle that is collected stops polling, and the process would end.
  const polling = koffi.node.poll(fd, { readable: true }, () => {
    let n: number;
    while ((n = Number(read(fd, f, f.length))) > 0) {
      if (n >= 42 && f[12] === 0x08 && f[13] === 0x06 && f[21] === 1 && ours(38)) {
        // ARP request for our address: the reply goes back to the asker.
        f.copyWithin(0, 6, 12);
        f.set(mac, 6);
        f[21] = 2;
        f.copyWithin(32, 22, 32);
        f.set(mac, 22);
        f.set(ip, 28);
        write(fd, f, 42);
      } else if (n >= 42 && f[12] === 0x08 && f[13] === 0x00 && f[23] === 1 && ours(30)) {
        const ihl = (f[14]! & 15) * 4;
        const total = (f[16]! << 8) | f[17]!;
        if (14 + total > n || total < ihl + 8 || f[14 + ihl] !== 8) continue;
        f.copyWithin(0, 6, 12);
        f.set(mac, 6);
        for (let k = 0; k < 4; k++) {
          const a = f[26 + k]!;
          f[26 + k] = f[30 + k]!;
          f[30 + k] = a;
        }
        f[24] = f[25] = 0;
        let c = checksum(f, 14, 14 + ihl);
        f[24] = c >> 8;
        f[25] = c & 0xff;
        const icmp = 14 + ihl;
        f[icmp] = 0;
        f[icmp + 2] = f[icmp + 3] = 0;
        c = checksum(f, icmp, 14 + total);
        f[icmp + 2] = c >> 8;
        f[icmp + 3] = c & 0xff;
        write(fd, f, 14 + total);
      }
    }
  });
  process.on('SIGTERM', () => {
    polling.close();
    process.exit(0);
  });
  process.stdout.write('ready\n');
}

main();
