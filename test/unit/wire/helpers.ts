/**
 * Test helpers: hex conversion, a seeded PRNG, and frames captured from Linux 6.18 (tcpdump -xx
 * on a veth pair between two namespaces, 198.18.7.1 -> 198.18.7.2): the kernel's own ARP
 * request and reply, an echo request and the kernel's reply, a UDP datagram to a closed port
 * and the kernel's port-unreachable error.
 */

export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** mulberry32: a small seeded PRNG, so property tests are reproducible. Returns [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

export function randomInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** The RFC 1071 definition, written the slow and obvious way, to check the fast one against. */
export function referenceChecksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) + (i + 1 < b.length ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export const MAC_A = '9a:c5:65:ca:f8:b3'; // 198.18.7.1
export const MAC_B = 'b2:df:db:23:2a:7b'; // 198.18.7.2

/** Who has 198.18.7.2? Tell 198.18.7.1. */
export const ARP_REQUEST_FRAME = hex(`
  ffff ffff ffff 9ac5 65ca f8b3 0806 0001
  0800 0604 0001 9ac5 65ca f8b3 c612 0701
  0000 0000 0000 c612 0702`);

/** 198.18.7.2 is at b2:df:db:23:2a:7b. */
export const ARP_REPLY_FRAME = hex(`
  9ac5 65ca f8b3 b2df db23 2a7b 0806 0001
  0800 0604 0002 b2df db23 2a7b c612 0702
  9ac5 65ca f8b3 c612 0701`);

/** Echo request id 0x1c2b seq 1, 24 bytes of data, DF, IPv4 id 0x0f27. */
export const ECHO_REQUEST_FRAME = hex(`
  b2df db23 2a7b 9ac5 65ca f8b3 0800 4500
  0034 0f27 4000 4001 917a c612 0701 c612
  0702 0800 0163 1c2b 0001 0123 4567 89ab
  cdef 0123 4567 89ab cdef 0123 4567 89ab
  cdef`);

/** The kernel's echo reply to it: IPv4 id 0xa007, no DF. */
export const ECHO_REPLY_FRAME = hex(`
  9ac5 65ca f8b3 b2df db23 2a7b 0800 4500
  0034 a007 0000 4001 409a c612 0702 c612
  0701 0000 0963 1c2b 0001 0123 4567 89ab
  cdef 0123 4567 89ab cdef 0123 4567 89ab
  cdef`);

/**
 * UDP 44366 -> 33434, "hello tapstack". Its checksum field, 0x9a4f, is only the pseudo-header
 * sum: the sender left it CHECKSUM_PARTIAL and veth never completes it, the same state a TAP
 * with VIRTIO_NET_HDR_F_NEEDS_CSUM hands over (csum_start 34, csum_offset 6). Complete: 0x351d.
 */
export const UDP_FRAME = hex(`
  b2df db23 2a7b 9ac5 65ca f8b3 0800 4500
  002a e61f 4000 4011 ba7b c612 0701 c612
  0702 ad4e 829a 0016 9a4f 6865 6c6c 6f20
  7461 7073 7461 636b`);

/** The kernel's port unreachable for it: TOS 0xc0, the whole datagram quoted as it was. */
export const PORT_UNREACHABLE_FRAME = hex(`
  9ac5 65ca f8b3 b2df db23 2a7b 0800 45c0
  0046 a017 0000 4001 3fb8 c612 0702 c612
  0701 0303 321a 0000 0000 4500 002a e61f
  4000 4011 ba7b c612 0701 c612 0702 ad4e
  829a 0016 9a4f 6865 6c6c 6f20 7461 7073
  7461 636b`);
