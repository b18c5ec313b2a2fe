/** HeParams / ScoringLayout schemas and the parameters id both sides compute. */
import { describe, expect, it } from 'vitest';
import { canonicalJson, DEFAULT_HE_PARAMS, HeParams, outputScaleBitsApprox, paramsId, scoreHeadroomBits } from '../../schemas/he.js';
import { plan } from '../../pipeline/he/layout.js';

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
