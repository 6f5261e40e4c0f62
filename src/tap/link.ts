/**
 * What the kernel knows about a network device, asked before tapstack touches it: whether it
 * exists, whether it is a TAP, who may attach to it, how many queues are attached already, and
 * its MTU, transmit queue length and flags.
 *
 * This is one rtnetlink RTM_GETLINK request (rtnetlink(7)), which needs no privilege and answers
 * for the caller's own network namespace. sysfs (/sys/class/net/NAME/tun_flags) would say part of
 * it, but only for the namespace /sys was mounted in, which after a bare `unshare -n` is another
 * one; and only rtnetlink gives the number of attached queues (IFLA_TUN_NUM_QUEUES), which is how
 * a multi-queue TAP in use by another process is told from one created beforehand and idle.
 */
import { TapError } from './errors.js';
import { AF_NETLINK, EAGAIN, ENODEV, errnoName, libc, MSG_DONTWAIT, NETLINK_ROUTE, SOCK_CLOEXEC, SOCK_RAW } from './libc.js';

// <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>
const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 0x1;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const IFINFOMSG_LEN = 16;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_TXQLEN = 13;
const IFLA_LINKINFO = 18;
const IFLA_EXT_MASK = 29;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_TUN_OWNER = 1;
const IFLA_TUN_GROUP = 2;
const IFLA_TUN_TYPE = 3;
const IFLA_TUN_VNET_HDR = 5;
const IFLA_TUN_PERSIST = 6;
const IFLA_TUN_MULTI_QUEUE = 7;
const IFLA_TUN_NUM_QUEUES = 8;
const IFLA_TUN_NUM_DISABLED_QUEUES = 9;
/** RTEXT_FILTER_SKIP_STATS: the reply leaves out the counters, which we do not read. */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
/** nla_type without NLA_F_NESTED and NLA_F_NET_BYTEORDER. */
const NLA_TYPE_MASK = 0x3fff;
/** IFF_TUN / IFF_TAP, as IFLA_TUN_TYPE gives them. */
const TUN_TYPE_TAP = 2;

export interface TunInfo {
  /** 'tap' or 'tun' (IFLA_TUN_TYPE). */
  type: 'tap' | 'tun';
  /** The uid that may attach without CAP_NET_ADMIN (`ip tuntap add ... user U`); null: none set. */
  owner: number | null;
  /** The gid whose members may attach without CAP_NET_ADMIN; null: none set. */
  group: number | null;
  vnetHdr: boolean;
  /** Outlives its last fd (`ip tuntap add` makes persistent TAPs; a TAP tapstack creates is not). */
  persist: boolean;
  multiQueue: boolean;
  /**
   * Queues attached now (fds open on it), enabled and disabled. The kernel reports these for
   * multi-queue devices only: null for a single-queue one, which refuses a second fd by itself.
   */
  attachedQueues: number | null;
}

export interface LinkInfo {
  name: string;
  index: number;
  /** ifi_flags: IFF_UP 0x1, IFF_RUNNING 0x40, ... */
  flags: number;
  mtu: number;
  txQueueLength: number;
  /** IFLA_INFO_KIND: 'tun' for TUN and TAP devices, 'veth', 'bridge', ...; null for none. */
  kind: string | null;
  /** Set when kind is 'tun'. */
  tun: TunInfo | null;
}

/** The RTM_GETLINK request for the device `name` (sequence number `seq`). */
export function encodeGetLink(name: string, seq: number): Uint8Array {
  const nameAttrLen = 4 + name.length + 1;
  const len = NLMSG_HDRLEN + IFINFOMSG_LEN + align4(nameAttrLen) + 8;
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, RTM_GETLINK, true);
  dv.setUint16(6, NLM_F_REQUEST, true);
  dv.setUint32(8, seq, true);
  // ifinfomsg: all zero (AF_UNSPEC, any index): the name picks the device.
  let at = NLMSG_HDRLEN + IFINFOMSG_LEN;
  dv.setUint16(at, nameAttrLen, true);
  dv.setUint16(at + 2, IFLA_IFNAME, true);
  for (let i = 0; i < name.length; i++) b[at + 4 + i] = name.charCodeAt(i);
  at += align4(nameAttrLen);
  dv.setUint16(at, 8, true);
  dv.setUint16(at + 2, IFLA_EXT_MASK, true);
  dv.setUint32(at + 4, RTEXT_FILTER_SKIP_STATS, true);
  return b;
}

/**
 * The reply to {@link encodeGetLink}: the device, or null when the kernel answers ENODEV (no
 * device of that name in this namespace). Throws TapError 'EIOCTL' on any other error or a
 * malformed reply.
 */
export function parseGetLinkReply(reply: Uint8Array, seq: number): LinkInfo | null {
  const dv = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  const bad = (why: string) => new TapError('EIOCTL', `rtnetlink RTM_GETLINK: ${why}`);
  if (reply.length < NLMSG_HDRLEN) throw bad(`reply of ${reply.length} bytes`);
  const len = dv.getUint32(0, true);
  const type = dv.getUint16(4, true);
  if (len < NLMSG_HDRLEN || len > reply.length) throw bad(`message length ${len} in a reply of ${reply.length} bytes`);
  if (dv.getUint32(8, true) !== seq) throw bad(`sequence ${dv.getUint32(8, true)}, expected ${seq}`);
  if (type === NLMSG_ERROR) {
    if (len < NLMSG_HDRLEN + 4) throw bad('short error message');
    const errno = -dv.getInt32(NLMSG_HDRLEN, true);
    if (errno === ENODEV) return null;
    throw new TapError('EIOCTL', `rtnetlink RTM_GETLINK failed (${errnoName(errno)})`, errno);
  }
  if (type !== RTM_NEWLINK) throw bad(`message type ${type}`);
  if (len < NLMSG_HDRLEN + IFINFOMSG_LEN) throw bad('short link message');
  const info: LinkInfo = {
    name: '',
    index: dv.getInt32(NLMSG_HDRLEN + 4, true),
    flags: dv.getUint32(NLMSG_HDRLEN + 8, true),
    mtu: 0,
    txQueueLength: 0,
    kind: null,
    tun: null,
  };
  let data: Uint8Array | null = null;
  for (const [t, v] of attributes(reply.subarray(NLMSG_HDRLEN + IFINFOMSG_LEN, len), bad)) {
    if (t === IFLA_IFNAME) info.name = cString(v);
    else if (t === IFLA_MTU) info.mtu = u32(v, bad);
    else if (t === IFLA_TXQLEN) info.txQueueLength = u32(v, bad);
    else if (t === IFLA_LINKINFO) {
      for (const [lt, lv] of attributes(v, bad)) {
        if (lt === IFLA_INFO_KIND) info.kind = cString(lv);
        else if (lt === IFLA_INFO_DATA) data = lv;
      }
    }
  }
  if (info.kind === 'tun') {
    const tun: TunInfo = { type: 'tun', owner: null, group: null, vnetHdr: false, persist: false, multiQueue: false, attachedQueues: null };
    let queues: number | null = null;
    let disabled = 0;
    for (const [t, v] of data ? attributes(data, bad) : []) {
      if (t === IFLA_TUN_OWNER) tun.owner = u32(v, bad);
      else if (t === IFLA_TUN_GROUP) tun.group = u32(v, bad);
      else if (t === IFLA_TUN_TYPE) tun.type = v[0] === TUN_TYPE_TAP ? 'tap' : 'tun';
      else if (t === IFLA_TUN_VNET_HDR) tun.vnetHdr = v[0] === 1;
      else if (t === IFLA_TUN_PERSIST) tun.persist = v[0] === 1;
      else if (t === IFLA_TUN_MULTI_QUEUE) tun.multiQueue = v[0] === 1;
      else if (t === IFLA_TUN_NUM_QUEUES) queues = u32(v, bad);
      else if (t === IFLA_TUN_NUM_DISABLED_QUEUES) disabled = u32(v, bad);
    }
    tun.attachedQueues = queues === null ? null : queues + disabled;
    info.tun = tun;
  }
  return info;
}

let nextSeq = 1;

/**
 * The device `name` in the caller's network namespace, or null if there is none. One
 * RTM_GETLINK on a fresh rtnetlink socket; the kernel answers before `send` returns, so the
 * receive never waits.
 */
export function queryLink(name: string): LinkInfo | null {
  const sock = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (sock < 0) throw new TapError('EIOCTL', `socket(AF_NETLINK) failed (${errnoName(libc.errno())})`, libc.errno());
  try {
    const seq = nextSeq++;
    const req = encodeGetLink(name, seq);
    if (libc.send(sock, req, req.length, 0) !== req.length) throw new TapError('EIOCTL', `rtnetlink send failed (${errnoName(libc.errno())})`, libc.errno());
    const buf = new Uint8Array(65536);
    const n = libc.recv(sock, buf, buf.length, MSG_DONTWAIT);
    if (n < 0) {
      const errno = libc.errno();
      throw new TapError('EIOCTL', `rtnetlink recv failed (${errno === EAGAIN ? 'no reply' : errnoName(errno)})`, errno);
    }
    return parseGetLinkReply(buf.subarray(0, n), seq);
  } finally {
    libc.close(sock);
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** The netlink attributes (type without flag bits, value) of `b`, in order. */
function* attributes(b: Uint8Array, bad: (why: string) => Error): Generator<[number, Uint8Array]> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let at = 0;
  while (at + 4 <= b.length) {
    const len = dv.getUint16(at, true);
    const type = dv.getUint16(at + 2, true) & NLA_TYPE_MASK;
    if (len < 4 || at + len > b.length) throw bad(`attribute ${type} of length ${len} at ${at} overruns ${b.length} bytes`);
    yield [type, b.subarray(at + 4, at + len)];
    at += align4(len);
  }
}

function u32(v: Uint8Array, bad: (why: string) => Error): number {
  if (v.length < 4) throw bad(`a 32-bit attribute of ${v.length} bytes`);
  return new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true);
}

function cString(v: Uint8Array): string {
  const end = v.indexOf(0);
  return String.fromCharCode(...v.subarray(0, end < 0 ? v.length : end));
}
