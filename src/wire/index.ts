/** Views over bytes and parse/emit for each protocol (see docs/ARCHITECTURE.md section 2). */
export * from './errors.js';
export * from './bytes.js';
export * from './addr.js';
export * from './checksum.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './icmp.js';
export * from './seq.js';
export * from './tcp.js';
export * from './udp.js';
export * from './dhcp.js';
export * from './dns.js';
