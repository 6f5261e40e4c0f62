/**
 * Receive-queue steering for a multi-queue TAP: connection requests get a queue of their own.
 *
 * A SYN flood arrives faster than any userspace reader can take frames one `readv` at a time
 * (`hping3 --flood` offers some 300k SYN/s here). With one queue, the kernel's queue towards us
 * (a ring of txqueuelen frames per TAP queue, drop-tail) loses the segments of established
 * connections along with the flood, in proportion. NICs solve this in hardware: Intel's 82599
 * has a "SYN packet filter" that sends TCP SYNs to a queue of their own (SYNQF) so that a flood
 * cannot crowd out the rest. This is the same for the TAP: the device is opened with two queues
 * (IFF_MULTI_QUEUE), and a steering program (TUNSETSTEERINGEBPF; the kernel's tun driver runs it
 * per frame and takes its result modulo the number of queues) puts every IPv4 TCP segment with
 * SYN set and ACK, RST, FIN clear on queue {@link SYN_QUEUE}, everything else on
 * {@link MAIN_QUEUE}. The NIC then drains the main queue completely on every wake-up and the
 * SYN queue within a budget: a flood loses SYNs (among them, perhaps, a legitimate one, which
 * its sender retransmits), never the segments of connections that exist.
 *
 * The program is eBPF of type SOCKET_FILTER, assembled here (18 instructions) and loaded with
 * bpf(BPF_PROG_LOAD). It reads the frame with the legacy packet loads (LD_ABS, LD_IND), which
 * fail closed: a frame too short for a load ends the program with 0, the main queue.
 */
import { TapError } from './errors.js';
import { EPERM, errnoText, libc } from './libc.js';

export const MAIN_QUEUE = 0;
export const SYN_QUEUE = 1;

// <linux/bpf.h>
const BPF_PROG_LOAD = 5;
const BPF_PROG_TYPE_SOCKET_FILTER = 1;
/** offsetof(union bpf_attr, prog_name) + 16: everything BPF_PROG_LOAD reads here. */
const BPF_ATTR_SIZE = 64;

// eBPF opcodes (class | size/op | mode/source)
const LD_ABS_B = 0x30; // BPF_LD | BPF_ABS | BPF_B
const LD_ABS_H = 0x28; // BPF_LD | BPF_ABS | BPF_H
const LD_IND_B = 0x50; // BPF_LD | BPF_IND | BPF_B
const MOV64_X = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_K = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const AND64_K = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const LSH64_K = 0x67; // BPF_ALU64 | BPF_LSH | BPF_K
const JNE_K = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const EXIT = 0x95; // BPF_JMP | BPF_EXIT

const R0 = 0;
const R1 = 1;
const R6 = 6;
const R7 = 7;

/** TCP flags the program looks at: FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10. */
const FLAGS_MASK = 0x17;
const SYN_ONLY = 0x02;

/** A jump to the final "return MAIN_QUEUE", resolved when the program is assembled. */
const TO_MAIN = Symbol('main');
type Insn = [op: number, dst: number, src: number, off: number | typeof TO_MAIN, imm: number];

/**
 * The program, as instructions. Offsets are those of an Ethernet frame as the tun driver sees
 * it when it picks a queue (no virtio-net header yet): EtherType at 12, the IPv4 header at 14.
 */
function program(): Insn[] {
  return [
    [MOV64_X, R6, R1, 0, 0], // r6 = ctx: LD_ABS/LD_IND read the skb through r6
    [LD_ABS_H, 0, 0, 0, 12], // r0 = EtherType
    [JNE_K, R0, 0, TO_MAIN, 0x0800], // not IPv4 (a VLAN tag included): main
    [LD_ABS_B, 0, 0, 0, 14 + 9], // r0 = IPv4 protocol
    [JNE_K, R0, 0, TO_MAIN, 6], // not TCP: main
    [LD_ABS_H, 0, 0, 0, 14 + 6], // r0 = flags and fragment offset
    [JSET_K, R0, 0, TO_MAIN, 0x1fff], // a later fragment has no TCP header: main
    [LD_ABS_B, 0, 0, 0, 14], // r0 = version and IHL
    [AND64_K, R0, 0, 0, 0x0f],
    [LSH64_K, R0, 0, 0, 2], // r0 = IPv4 header length
    [MOV64_X, R7, R0, 0, 0],
    [LD_IND_B, 0, R7, 0, 14 + 13], // r0 = TCP flags (byte 13 of the TCP header)
    [AND64_K, R0, 0, 0, FLAGS_MASK],
    [JNE_K, R0, 0, TO_MAIN, SYN_ONLY],
    [MOV64_K, R0, 0, 0, SYN_QUEUE],
    [EXIT, 0, 0, 0, 0],
    [MOV64_K, R0, 0, 0, MAIN_QUEUE], // TO_MAIN
    [EXIT, 0, 0, 0, 0],
  ];
}

/** struct bpf_insn: op u8, dst_reg:4 | src_reg:4, off s16, imm s32 (little endian). */
export function assembleSteeringProgram(): Uint8Array {
  const insns = program();
  const main = insns.length - 2;
  const out = new Uint8Array(insns.length * 8);
  const dv = new DataView(out.buffer);
  insns.forEach(([op, dst, src, off, imm], i) => {
    out[i * 8] = op;
    out[i * 8 + 1] = dst | (src << 4);
    dv.setInt16(i * 8 + 2, off === TO_MAIN ? main - i - 1 : off, true);
    dv.setInt32(i * 8 + 4, imm, true);
  });
  return out;
}

/**
 * The queue the steering program picks for a frame, computed in TypeScript: the same rules,
 * for the in-memory device of the tests and for documentation. Frames are Ethernet frames.
 */
export function steeringQueueOf(frame: Uint8Array): number {
  if (frame.length < 14 + 20 || frame[12] !== 0x08 || frame[13] !== 0x00) return MAIN_QUEUE;
  if (frame[14 + 9] !== 6 || ((frame[14 + 6]! << 8) | frame[14 + 7]!) & 0x1fff) return MAIN_QUEUE;
  const flagsAt = 14 + (frame[14]! & 0x0f) * 4 + 13;
  if (flagsAt >= frame.length) return MAIN_QUEUE;
  return (frame[flagsAt]! & FLAGS_MASK) === SYN_ONLY ? SYN_QUEUE : MAIN_QUEUE;
}

/**
 * Load the steering program; returns its fd (the caller closes it once the TAP holds it).
 * Throws TapError 'EBPF': EPERM names the capability that is missing, as the kernel does not
 * (BPF_PROG_LOAD needs CAP_BPF, or CAP_SYS_ADMIN which implies it, unless the sysctl
 * kernel.unprivileged_bpf_disabled is 0; a container with only CAP_NET_ADMIN gets EPERM);
 * any other errno comes with the verifier's log when it has one.
 */
export function loadSteeringProgram(): number {
  const insns = assembleSteeringProgram();
  const license = new TextEncoder().encode('GPL\0');
  const log = new Uint8Array(4096);
  const attr = new Uint8Array(BPF_ATTR_SIZE);
  const dv = new DataView(attr.buffer);
  dv.setUint32(0, BPF_PROG_TYPE_SOCKET_FILTER, true);
  dv.setUint32(4, insns.length / 8, true);
  dv.setBigUint64(8, libc.address(insns), true);
  dv.setBigUint64(16, libc.address(license), true);
  dv.setUint32(24, 1, true); // log_level: the verifier explains a refusal
  dv.setUint32(28, log.length, true);
  dv.setBigUint64(32, libc.address(log), true);
  const fd = libc.bpf(BPF_PROG_LOAD, attr, BPF_ATTR_SIZE);
  if (fd < 0) {
    const errno = libc.errno();
    const end = log.indexOf(0);
    const why = new TextDecoder().decode(log.subarray(0, end < 0 ? log.length : end)).trim();
    throw steeringLoadError(errno, why);
  }
  return fd;
}

/** The error of a refused BPF_PROG_LOAD: one line, naming the capability on EPERM. */
export function steeringLoadError(errno: number, verifierLog = ''): TapError {
  if (errno === EPERM) return new TapError('EBPF', `loading the eBPF steering program needs CAP_BPF (or CAP_SYS_ADMIN): ${errnoText(errno)}`, errno);
  const why = verifierLog.split('\n').filter(Boolean).join('; ');
  return new TapError('EBPF', `cannot load the TAP steering program: ${errnoText(errno)}${why ? `: ${why}` : ''}`, errno);
}
