import { describe, expect, it } from 'vitest';
import { TapError } from '../../../src/tap/errors.js';
import { encodeGetLink, parseGetLinkReply, queryLink } from '../../../src/tap/link.js';

/** One netlink attribute: length, type, value, padded to 4. */
function nla(type: number, value: Uint8Array): Uint8Array {
  const len = 4 + value.length;
  const out = new Uint8Array((len + 3) & ~3);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, len, true);
  dv.setUint16(2, type, true);
  out.set(value, 4);
  return out;
}

const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);
const u8 = (v: number) => new Uint8Array([v]);
const str = (s: string) => new TextEncoder().encode(s + '\0');
const NESTED = 0x8000;

/** nlmsghdr + body. */
function message(type: number, seq: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, out.length, true);
  dv.setUint16(4, type, true);
  dv.setUint32(8, seq, true);
  out.set(body, 16);
  return out;
}

function ifinfomsg(index: number, flags: number): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setInt32(4, index, true);
  dv.setUint32(8, flags, true);
  return b;
}

function errorReply(seq: number, errno: number): Uint8Array {
  return message(2, seq, concat(new Uint8Array(new Int32Array([-errno]).buffer), new Uint8Array(16)));
}

/** What the kernel's tun_fill_info gives for `ip tuntap add dev tap9 mode tap user 65534 vnet_hdr multi_queue`. */
function tapReply(seq: number, o: { queues?: number; disabled?: number; owner?: number; multiQueue?: boolean; type?: number } = {}): Uint8Array {
  const mq = o.multiQueue ?? true;
  const data = concat(
    ...(o.owner !== undefined ? [nla(1, u32(o.owner))] : []),
    nla(3, u8(o.type ?? 2)),
    nla(4, u8(0)),
    nla(5, u8(1)),
    nla(6, u8(1)),
    nla(7, u8(mq ? 1 : 0)),
    ...(mq ? [nla(8, u32(o.queues ?? 0)), nla(9, u32(o.disabled ?? 0))] : []),
  );
  const linkinfo = concat(nla(1, str('tun')), nla(2 | NESTED, data));
  return message(16, seq, concat(ifinfomsg(7, 0x1003), nla(3, str('tap9')), nla(4, u32(1500)), nla(13, u32(1000)), nla(18 | NESTED, linkinfo)));
}

describe('rtnetlink RTM_GETLINK', () => {
  it('asks for one device by name, without its counters', () => {
    const req = encodeGetLink('tap9', 7);
    const dv = new DataView(req.buffer);
    expect(dv.getUint32(0, true)).toBe(req.length);
    expect(dv.getUint16(4, true)).toBe(18); // RTM_GETLINK
    expect(dv.getUint16(6, true)).toBe(1); // NLM_F_REQUEST
    expect(dv.getUint32(8, true)).toBe(7);
    expect(dv.getUint16(32, true)).toBe(4 + 5); // IFLA_IFNAME "tap9\0"
    expect(dv.getUint16(34, true)).toBe(3);
    expect(new TextDecoder().decode(req.subarray(36, 40))).toBe('tap9');
    expect(req[40]).toBe(0);
    expect(dv.getUint16(44, true)).toBe(8); // IFLA_EXT_MASK, after padding to 4
    expect(dv.getUint16(46, true)).toBe(29);
    expect(dv.getUint32(48, true)).toBe(8); // RTEXT_FILTER_SKIP_STATS
    expect(req.length).toBe(52);
  });

  it('reads a TAP: owner, flags, queues attached (enabled and disabled), MTU, txqueuelen', () => {
    const link = parseGetLinkReply(tapReply(3, { owner: 65534, queues: 1, disabled: 1 }), 3);
    expect(link).toEqual({
      name: 'tap9',
      index: 7,
      flags: 0x1003,
      mtu: 1500,
      txQueueLength: 1000,
      kind: 'tun',
      tun: { type: 'tap', owner: 65534, group: null, vnetHdr: true, persist: true, multiQueue: true, attachedQueues: 2 },
    });
  });

  it('has no queue count for a single-queue TAP (the kernel gives none), and tells a TUN from a TAP', () => {
    expect(parseGetLinkReply(tapReply(1, { multiQueue: false }), 1)!.tun).toMatchObject({ multiQueue: false, attachedQueues: null, owner: null });
    expect(parseGetLinkReply(tapReply(1, { type: 1 }), 1)!.tun!.type).toBe('tun');
  });

  it('gives a device that is not a TUN/TAP with no tun part', () => {
    const reply = message(16, 1, concat(ifinfomsg(1, 0x9), nla(3, str('lo')), nla(4, u32(65536))));
    expect(parseGetLinkReply(reply, 1)).toMatchObject({ name: 'lo', kind: null, tun: null, mtu: 65536 });
  });

  it('answers null for ENODEV and a TapError for any other error', () => {
    expect(parseGetLinkReply(errorReply(5, 19), 5)).toBeNull();
    const e = (() => {
      try {
        parseGetLinkReply(errorReply(5, 1), 5);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(TapError);
    expect((e as TapError).message).toBe('rtnetlink RTM_GETLINK failed (EPERM)');
  });

  it('refuses malformed replies: wrong sequence, short, an attribute running past the end', () => {
    expect(() => parseGetLinkReply(tapReply(3), 4)).toThrow(/sequence 3, expected 4/);
    expect(() => parseGetLinkReply(new Uint8Array(8), 1)).toThrow(TapError);
    const bad = tapReply(2);
    new DataView(bad.buffer).setUint16(32, 200, true); // first attribute claims 200 bytes
    expect(() => parseGetLinkReply(bad, 2)).toThrow(/overruns/);
  });

  it('asks the kernel: lo exists and is no TAP, a name nobody has gives null', () => {
    expect(queryLink('lo')).toMatchObject({ name: 'lo', kind: null, tun: null });
    expect(queryLink('tapstack-none')).toBeNull();
  });
});
