/** HeParams / ScoringLayout schemas and the parameters id both sides compute. */
import { describe, expect, it } from 'vitest';
import { canonicalJson, DEFAULT_HE_PARAMS, HeParams, outputScaleBitsApprox, paramsId, scoreHeadroomBits } from '../../schemas/he.js';
import { plan } from '../../pipeline/he/layout.js';
import { checkSealHeader, maxKeyBytes, maxQueryBytes, maxResultBytes } from '../../pipeline/he/serialized.js';
import { BlindearError } from '../../pipeline/errors.js';

describe('HeParams', () => {
  it('defaults to N=8192, [60,40,60], inputs and weights at 2^40, 128-bit security', () => {
    expect(HeParams.parse({})).toEqual({
      scheme: 'ckks', polyModulusDegree: 8192, coeffModulusBits: [60, 40, 60], scaleBits: 40, weightScaleBits: 40, security: 128, maxWindowsPerCiphertext: 32,
    });
    expect(DEFAULT_HE_PARAMS).toEqual(HeParams.parse({}));
    expect(outputScaleBitsApprox(DEFAULT_HE_PARAMS)).toBe(40);
    expect(scoreHeadroomBits(DEFAULT_HE_PARAMS)).toBe(18);
  });

  it('accepts a one-data-prime set without rescale', () => {
    const p = HeParams.parse({ coeffModulusBits: [60, 60], scaleBits: 30, weightScaleBits: 20 });
    expect(outputScaleBitsApprox(p)).toBe(50);
    expect(scoreHeadroomBits(p)).toBe(8);
  });

  it.each([
    [{ polyModulusDegree: 6000 }, 'polyModulusDegree'],
    [{ polyModulusDegree: 2048 }, 'polyModulusDegree'],
    [{ polyModulusDegree: 4096 }, 'coeffModulusBits'], // 160 bits > 109
    [{ coeffModulusBits: [60] }, 'coeffModulusBits'],
    [{ coeffModulusBits: [60, 61] }, 'coeffModulusBits'],
    [{ scaleBits: 50, weightScaleBits: 50 }, 'weightScaleBits'], // product does not fit [60, 40]
    [{ coeffModulusBits: [30, 40, 60], scaleBits: 40, weightScaleBits: 40 }, 'coeffModulusBits'], // no headroom
    [{ security: 192 }, 'security'],
    [{ scheme: 'bfv' }, 'scheme'],
  ])('rejects %j', (input, path) => {
    const r = HeParams.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues.some((i) => i.path.includes(path))).toBe(true);
  });
});

describe('paramsId', () => {
  const l = plan(64, 20, 4096);
  it('is a stable sha256 hex of canonical JSON', () => {
    const id = paramsId(DEFAULT_HE_PARAMS, l);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    // Key order does not matter.
    const shuffled = Object.fromEntries(Object.entries(DEFAULT_HE_PARAMS).reverse()) as typeof DEFAULT_HE_PARAMS;
    expect(paramsId(shuffled, { ...l })).toBe(id);
    // Pinned: if this changes, every deployed client/server pair and stored catalogue disagrees.
    expect(id).toBe('74607da50a4034b69c8048ac091dc5523601209eebe5713597e224203e5597d3');
  });

  it('changes with any parameter or model dimension', () => {
    const id = paramsId(DEFAULT_HE_PARAMS, l);
    expect(paramsId({ ...DEFAULT_HE_PARAMS, scaleBits: 39 }, l)).not.toBe(id);
    expect(paramsId(DEFAULT_HE_PARAMS, plan(65, 20, 4096))).not.toBe(id);
    expect(paramsId(DEFAULT_HE_PARAMS, plan(64, 21, 4096))).not.toBe(id);
  });

  it('canonicalJson sorts keys and rejects non-finite numbers', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
    expect(() => canonicalJson({ a: NaN })).toThrow(RangeError);
  });
});

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
