/**
 * Binary framing of several byte strings in one Kafka value (e.g. the result ciphertexts of one query):
 * u32 count, then per part u32 length + bytes, all little endian. Decoding checks every bound, so a
 * truncated or forged value is rejected before any part is used.
 */
export function encodeFrames(parts: readonly Uint8Array[]): Buffer {
  const total = 4 + parts.reduce((n, p) => n + 4 + p.length, 0);
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32LE(parts.length, 0);
  let at = 4;
  for (const p of parts) {
    out.writeUInt32LE(p.length, at);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

export function decodeFrames(buf: Uint8Array, maxParts: number): Uint8Array[] {
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.length < 4) throw new RangeError('framed value shorter than its header');
  const count = view.readUInt32LE(0);
  if (count === 0 || count > maxParts) throw new RangeError(`framed value has ${count} parts, expected 1..${maxParts}`);
  const parts: Uint8Array[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 4 > view.length) throw new RangeError(`framed value truncated before part ${i}`);
    const len = view.readUInt32LE(at);
    if (at + 4 + len > view.length) throw new RangeError(`framed value truncated inside part ${i}`);
    parts.push(view.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (at !== view.length) throw new RangeError('framed value has trailing bytes');
  return parts;
}
