import { describe, expect, it } from 'vitest';
import { assembleSteeringProgram, MAIN_QUEUE, steeringQueueOf, SYN_QUEUE } from '../../../src/tap/steering.js';

/**
 * Runs the assembled eBPF program on a frame, for the opcodes it uses, with the kernel's
 * semantics for them: LD_ABS/LD_IND load big-endian and end the program with 0 when out of
 * bounds. So the bytes the kernel is given are checked against the TypeScript rules.
 */
function run(prog: Uint8Array, frame: Uint8Array): number {
  const dv = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  const r = new Array<bigint>(11).fill(0n);
  const load = (at: number, size: number): bigint | null => {
    if (at < 0 || at + size > frame.length) return null;
    let v = 0n;
    for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(frame[at + i]!);
    return v;
  };
  for (let pc = 0, steps = 0; steps < 1000; steps++) {
    const op = prog[pc * 8]!;
    const dst = prog[pc * 8 + 1]! & 0x0f;
    const src = prog[pc * 8 + 1]! >> 4;
    const off = dv.getInt16(pc * 8 + 2, true);
    const imm = BigInt(dv.getInt32(pc * 8 + 4, true));
    pc++;
    const size = { 0x30: 1, 0x28: 2, 0x50: 1 }[op as 0x30 | 0x28 | 0x50];
    switch (op) {
      case 0x30:
      case 0x28:
      case 0x50: {
        const v = load(Number(imm) + (op === 0x50 ? Number(r[src]!) : 0), size!);
        if (v === null) return 0;
        r[0] = v;
        break;
      }
      case 0xbf:
        r[dst] = r[src]!;
        break;
      case 0xb7:
        r[dst] = imm;
        break;
      case 0x57:
        r[dst] = r[dst]! & imm;
        break;
      case 0x67:
        r[dst] = r[dst]! << imm;
        break;
      case 0x55:
        if (r[dst] !== imm) pc += off;
        break;
      case 0x45:
        if ((r[dst]! & imm) !== 0n) pc += off;
        break;
      case 0x95:
        return Number(r[0]);
      default:
        throw new Error(`opcode 0x${op.toString(16)} at ${pc - 1}`);
    }
  }
  throw new Error('no exit');
}

/** Ethernet + IPv4 (IHL words, fragment field) + TCP with `flags`. */
function frame(o: { etherType?: number; proto?: number; ihl?: number; frag?: number; flags?: number; cut?: number } = {}): Uint8Array {
  const ihl = o.ihl ?? 5;
  const f = new Uint8Array(14 + ihl * 4 + 20);
  f[12] = (o.etherType ?? 0x0800) >> 8;
  f[13] = (o.etherType ?? 0x0800) & 0xff;
  f[14] = 0x40 | ihl;
  f[14 + 6] = (o.frag ?? 0x4000) >> 8;
  f[14 + 7] = (o.frag ?? 0x4000) & 0xff;
  f[14 + 9] = o.proto ?? 6;
  f[14 + ihl * 4 + 13] = o.flags ?? 0x02;
  return o.cut !== undefined ? f.subarray(0, o.cut) : f;
}

describe('SYN steering program', () => {
  const prog = assembleSteeringProgram();
  const cases: [string, Uint8Array, number][] = [
    ['SYN', frame(), SYN_QUEUE],
    ['SYN with ECE|CWR (ECN setup)', frame({ flags: 0xc2 }), SYN_QUEUE],
    ['SYN with PSH', frame({ flags: 0x0a }), SYN_QUEUE],
    ['SYN behind IPv4 options', frame({ ihl: 8 }), SYN_QUEUE],
    ['SYN-ACK', frame({ flags: 0x12 }), MAIN_QUEUE],
    ['SYN+RST', frame({ flags: 0x06 }), MAIN_QUEUE],
    ['SYN+FIN', frame({ flags: 0x03 }), MAIN_QUEUE],
    ['ACK', frame({ flags: 0x10 }), MAIN_QUEUE],
    ['RST', frame({ flags: 0x04 }), MAIN_QUEUE],
    ['UDP', frame({ proto: 17 }), MAIN_QUEUE],
    ['ARP', frame({ etherType: 0x0806 }), MAIN_QUEUE],
    ['VLAN-tagged', frame({ etherType: 0x8100 }), MAIN_QUEUE],
    ['a later fragment', frame({ frag: 0x0010 }), MAIN_QUEUE],
    ['a first fragment (MF)', frame({ frag: 0x2000 }), SYN_QUEUE],
    ['cut before the TCP flags', frame({ cut: 14 + 20 + 13 }), MAIN_QUEUE],
    ['cut inside the IPv4 header', frame({ cut: 20 }), MAIN_QUEUE],
  ];

  it.each(cases)('%s: the program and steeringQueueOf agree', (_, f, queue) => {
    expect(run(prog, f)).toBe(queue);
    expect(steeringQueueOf(f)).toBe(queue);
  });

  it('is a valid instruction stream: every jump lands inside, the last instruction exits', () => {
    const n = prog.length / 8;
    const dv = new DataView(prog.buffer);
    for (let i = 0; i < n; i++) {
      const op = prog[i * 8]!;
      if (op === 0x55 || op === 0x45) {
        const target = i + 1 + dv.getInt16(i * 8 + 2, true);
        expect(target).toBeGreaterThan(i);
        expect(target).toBeLessThan(n);
      }
    }
    expect(prog[(n - 1) * 8]).toBe(0x95);
  });
});
