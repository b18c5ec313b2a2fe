/** What is checked in plain TypeScript before bytes reach SEAL: headers and size bounds. */
import { describe, expect, it } from 'vitest';
import { plan } from '../../pipeline/he/layout.js';
import { checkSealHeader, maxKeyBytes, maxQueryBytes, maxResultBytes } from '../../pipeline/he/serialized.js';
import { BlindearError } from '../../pipeline/errors.js';
import { DEFAULT_HE_PARAMS } from '../../schemas/he.js';

describe('serialized sizes and headers', () => {
  it('bounds sizes from the parameters', () => {
    expect(maxQueryBytes(DEFAULT_HE_PARAMS)).toBeGreaterThanOrEqual(2 * 8192 * 2 * 8);
    expect(maxResultBytes(DEFAULT_HE_PARAMS)).toBeGreaterThanOrEqual(2 * 8192 * 8);
    expect(maxKeyBytes(DEFAULT_HE_PARAMS, plan(64, 20, 4096))).toBeGreaterThanOrEqual(2 * 2 * 2 * 8192 * 3 * 8);
  });

  const header = (over: Partial<{ magic: number; hsize: number; major: number; mode: number; reserved: number; size: bigint }> = {}, length = 200) => {
    const b = new Uint8Array(length);
    const v = new DataView(b.buffer);
    v.setUint16(0, over.magic ?? 0xa15e, true);
    v.setUint8(2, over.hsize ?? 16);
    v.setUint8(3, over.major ?? 4);
    v.setUint8(4, 1);
    v.setUint8(5, over.mode ?? 2);
    v.setUint16(6, over.reserved ?? 0, true);
    v.setBigUint64(8, over.size ?? BigInt(length), true);
    return b;
  };
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as BlindearError).code;
    }
    return 'none';
  };

  it('accepts a consistent header and rejects the rest with coded errors', () => {
    expect(checkSealHeader(header(), 1000, 'BLINDEAR_ERR_HE_CIPHERTEXT_INVALID')).toMatchObject({ comprMode: 'zstd', size: 200 });
    expect(code(() => checkSealHeader(header(), 100, 'BLINDEAR_ERR_HE_CIPHERTEXT_INVALID'))).toBe('BLINDEAR_ERR_MSG_TOO_LARGE');
    for (const bad of [
      header({ magic: 0 }), header({ hsize: 17 }), header({ major: 3 }), header({ mode: 1 }), header({ reserved: 1 }),
      header({ size: 201n }), header({ size: 199n }), header({}, 40), new Uint8Array(0),
    ]) {
      expect(code(() => checkSealHeader(bad, 1000, 'BLINDEAR_ERR_HE_KEYS_INVALID'))).toBe('BLINDEAR_ERR_HE_KEYS_INVALID');
    }
  });
});
