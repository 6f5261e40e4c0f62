/**
 * Which SYNs to answer when there are more than the stack can answer.
 *
 * Reading a SYN is cheap; answering it is not (the SYN-ACK's write, and, from a flooder with a
 * real address, the RST its kernel sends back, which must be read too). With its own receive
 * queue (src/tap/steering.ts) a flood no longer costs established connections anything, but
 * if every SYN read were answered, the reader would fall behind and the kernel would drop
 * SYNs at random, a legitimate client's with them, attempt after attempt.
 *
 * So, only while the NIC reports the SYN queue backlogged (its last round filled its budget):
 * - at most {@link SynAdmission.budget} new SYNs are answered per receive batch;
 * - the others are not answered, but remembered: a tag of (source address, source port,
 *   destination port, ISN) in a fixed table;
 * - a SYN whose tag is in the table is a retransmission (RFC 9293 3.8.1, RFC 6298 5.7: a
 *   client resends its unanswered SYN with the same ISN after about a second) and is
 *   answered whatever the budget.
 * A flooding tool sends each SYN once; a TCP client gets in with its first retransmission.
 * This is the "drop the first SYN" authentication of DDoS scrubbers. A flooder that repeats
 * its SYNs only brings this back to the random chance of answering without it; the table is
 * a fixed size (one Uint32 per slot), so no input grows it.
 *
 * When the queue is not backlogged (a burst of 200 legitimate connections, say), every SYN is
 * answered at once as before.
 */

/** New SYNs answered per receive batch while the SYN queue is backlogged. */
export const SYN_ANSWERS_PER_BATCH = 16;
/**
 * Slots of the table of unanswered SYNs (a power of two). Under a flood of F SYN/s, a tag
 * survives T seconds with probability exp(-F*T/slots): 2^22 slots keep a 1-second-old tag
 * through 200k SYN/s with 95% (16 MiB, reserved when the first SYN is deferred).
 */
export const SYN_TABLE_SLOTS = 1 << 22;

/** Where the counts go (the TCP layer's stats). */
export interface SynAdmissionStats {
  /** SYNs not answered (remembered). */
  synDeferred: number;
  /** SYNs answered because their first copy had been deferred. */
  synRetransmitsAdmitted: number;
}

export class SynAdmission {
  private table: Uint32Array | null = null;
  private left: number;
  private readonly seed: number;

  constructor(
    readonly stats: SynAdmissionStats = { synDeferred: 0, synRetransmitsAdmitted: 0 },
    readonly budget = SYN_ANSWERS_PER_BATCH,
    private readonly slots = SYN_TABLE_SLOTS,
    /** Keys the table's hash (the layer's injected randomness), so a flooder cannot aim at slots. */
    seed: number,
  ) {
    if (!Number.isInteger(Math.log2(slots))) throw new RangeError(`SynAdmission: ${slots} slots is not a power of two`);
    this.left = budget;
    this.seed = seed | 1;
  }

  /** A new receive batch: the budget is whole again. */
  newBatch(): void {
    this.left = this.budget;
  }

  /**
   * Answer this SYN now? Call only while the SYN queue is backlogged. A SYN not admitted is
   * remembered, so its retransmission will be.
   */
  admit(remote: number, remotePort: number, localPort: number, seq: number): boolean {
    const table = (this.table ??= new Uint32Array(this.slots));
    // Two 32-bit mixes (murmur3's finalizer) of the 4-tuple's varying part and the ISN,
    // keyed by a per-process seed: one picks the slot, the other is the tag (never 0: empty).
    let h = Math.imul(remote ^ this.seed, 0xcc9e2d51);
    h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ ((remotePort << 16) | localPort);
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
    h ^= seq;
    h = fmix(h);
    const slot = h & (this.slots - 1);
    const tag = (fmix(h ^ this.seed) | 1) >>> 0;
    if (table[slot] === tag) {
      table[slot] = 0;
      this.stats.synRetransmitsAdmitted++;
      return true;
    }
    if (this.left > 0) {
      this.left--;
      return true;
    }
    table[slot] = tag;
    this.stats.synDeferred++;
    return false;
  }
}

/** murmur3's 32-bit finalizer: every input bit reaches every output bit. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
