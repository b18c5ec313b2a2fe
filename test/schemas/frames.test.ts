import { describe, expect, it } from 'vitest';
import { decodeFrames, encodeFrames } from '../../schemas/frames.js';

describe('frames', () => {
  it('round-trips parts of any length', () => {
    const parts = [new Uint8Array([1, 2, 3]), new Uint8Array(0), Uint8Array.from({ length: 1000 }, (_, i) => i & 255)];
    const back = decodeFrames(encodeFrames(parts), 8);
    expect(back.map((p) => Array.from(p))).toEqual(parts.map((p) => Array.from(p)));
  });

  it('rejects truncated, padded and oversized framings', () => {
    const ok = encodeFrames([new Uint8Array(10), new Uint8Array(5)]);
    expect(() => decodeFrames(ok.subarray(0, ok.length - 1), 8)).toThrow(/truncated/);
    expect(() => decodeFrames(Buffer.concat([ok, Buffer.from([0])]), 8)).toThrow(/trailing/);
    expect(() => decodeFrames(ok, 1)).toThrow(/parts/);
    expect(() => decodeFrames(new Uint8Array(2), 8)).toThrow(/shorter/);
    const forged = Buffer.from(ok); forged.writeUInt32LE(0xffffffff, 4);
    expect(() => decodeFrames(forged, 8)).toThrow(/truncated/);
  });
});
