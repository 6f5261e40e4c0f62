/**
 * Frames that carry a partial checksum (virtio-net NEEDS_CSUM: the field holds only the
 * pseudo-header sum, the device or the kernel finishes it) would show in a capture with a wrong
 * checksum, though on a real wire they never exist in that state. The capture finishes the
 * checksum in a copy of the part that holds the field, so the pcap shows the frame as it goes
 * on the wire. Runs only when a capture is attached.
 */
import { finishedPartialChecksum, onesComplementSum } from '../wire/checksum.js';

/** Returns `parts` with the part holding the checksum field replaced by a finished copy. */
export function finishChecksumForCapture(parts: Uint8Array[], frameLen: number, csumStart: number, csumOffset: number): Uint8Array[] {
  let sum = 0;
  let odd = false;
  let pos = 0;
  let fieldPart = -1;
  let fieldAt = 0;
  const field = csumStart + csumOffset;
  for (let i = 0; i < parts.length && pos < frameLen; i++) {
    const p = parts[i]!;
    const end = Math.min(p.length, frameLen - pos);
    if (field >= pos && field + 2 <= pos + end) {
      fieldPart = i;
      fieldAt = field - pos;
    }
    const from = Math.max(0, csumStart - pos);
    if (from < end) {
      const s = onesComplementSum(p, from, end);
      sum += odd ? ((s & 0xff) << 8) | (s >>> 8) : s;
      if ((end - from) & 1) odd = !odd;
    }
    pos += p.length;
  }
  if (fieldPart < 0) return parts;
  const copy = parts[fieldPart]!.slice();
  const c = finishedPartialChecksum(sum, csumOffset);
  copy[fieldAt] = c >>> 8;
  copy[fieldAt + 1] = c & 0xff;
  const out = parts.slice();
  out[fieldPart] = copy;
  return out;
}
