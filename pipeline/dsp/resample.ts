/**
 * Halving the sample rate (22050 Hz → 11025 Hz) with a proper anti-aliasing low-pass: a linear-phase
 * Kaiser-windowed sinc FIR evaluated only at the kept (even) output positions.
 *
 * Design: cutoff (−6 dB) at 0.4535·(new Nyquist) … i.e. 5000 Hz at 22050 Hz in, transition 4500–5500 Hz,
 * Kaiser β = 7.86 (≈80 dB stop band), 111 taps. Content above 5.5 kHz would alias into the new band;
 * it is attenuated by ≥ 80 dB, and the landmark peaks ignore the top two bins anyway.
 */

/** Zeroth-order modified Bessel function of the first kind (series; converges fast for β < 20). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/**
 * Low-pass FIR taps (odd length, symmetric, unit DC gain).
 * @param cutoff cutoff frequency as a fraction of the input sample rate (0 < cutoff < 0.5)
 */
export function kaiserLowpass(taps: number, cutoff: number, beta: number): Float64Array {
  if (!Number.isInteger(taps) || taps < 3 || taps % 2 === 0) throw new RangeError(`taps must be odd >= 3, got ${taps}`);
  if (!(cutoff > 0 && cutoff < 0.5)) throw new RangeError(`cutoff must be in (0, 0.5), got ${cutoff}`);
  const h = new Float64Array(taps);
  const m = (taps - 1) / 2;
  const i0b = besselI0(beta);
  let sum = 0;
  for (let n = 0; n < taps; n++) {
    const k = n - m;
    const sinc = k === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * k) / (Math.PI * k);
    const r = k / m;
    const w = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0b;
    h[n] = sinc * w;
    sum += h[n];
  }
  for (let n = 0; n < taps; n++) h[n] /= sum;
  return h;
}

const HALF_BAND_TAPS = kaiserLowpass(111, 5000 / 22050, 7.86);

/**
 * Decimates by 2 after low-pass filtering: output[i] = Σ h[k]·input[2i + k − m] (zero outside the input),
 * so output sample i is aligned with input sample 2i (zero-phase, no delay). Length ceil(n / 2).
 */
export function decimateBy2(input: Float32Array, taps: Float64Array = HALF_BAND_TAPS): Float32Array {
  const n = input.length;
  const outLen = (n + 1) >> 1;
  const out = new Float32Array(outLen);
  const L = taps.length;
  const m = (L - 1) >> 1;
  for (let i = 0; i < outLen; i++) {
    const c = 2 * i;
    let acc = taps[m] * input[c];
    if (c - m >= 0 && c + m < n) {
      // symmetric taps: fold the pairs (hot path, no bounds checks)
      for (let k = 1; k <= m; k++) acc += taps[m - k] * (input[c - k] + input[c + k]);
    } else {
      for (let k = 1; k <= m; k++) {
        const a = c - k >= 0 ? input[c - k] : 0;
        const b = c + k < n ? input[c + k] : 0;
        acc += taps[m - k] * (a + b);
      }
    }
    out[i] = acc;
  }
  return out;
}

/** The landmark kind's front end: 22050 Hz mono PCM to 11025 Hz. */
export function resample22050To11025(pcm22050: Float32Array): Float32Array {
  return decimateBy2(pcm22050);
}
