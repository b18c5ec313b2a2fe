/**
 * Radix-2 FFT on typed arrays. Real-input spectra are what every feature kind needs (STFT for MFCC and
 * for spectral peaks); a plain typed-array FFT runs an order of magnitude faster than meyda's generic one.
 */

/** Precomputed twiddles and bit-reversal for one power-of-two size; reuse it for every frame. */
export class Fft {
  readonly size: number;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly rev: Uint32Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0) {
      throw new RangeError(`FFT size must be a power of two >= 2, got ${size}`);
    }
    this.size = size;
    this.cos = new Float64Array(size / 2);
    this.sin = new Float64Array(size / 2);
    for (let i = 0; i < size / 2; i++) {
      this.cos[i] = Math.cos((2 * Math.PI * i) / size);
      this.sin[i] = -Math.sin((2 * Math.PI * i) / size);
    }
    const bits = Math.log2(size);
    this.rev = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.rev[i] = r;
    }
    this.re = new Float64Array(size);
    this.im = new Float64Array(size);
  }

  /**
   * Power spectrum |X[k]|^2 for k = 0..size/2 of one real frame (already windowed), written to `out`
   * (length size/2 + 1). Same convention as numpy.fft.rfft (no normalisation).
   */
  powerSpectrum(frame: ArrayLike<number>, out: Float64Array | Float32Array): void {
    this.transform(frame);
    const { re, im } = this;
    for (let k = 0; k <= this.size / 2; k++) out[k] = re[k] * re[k] + im[k] * im[k];
  }

  /** Magnitude spectrum |X[k]| for k = 0..size/2, written to `out`. */
  magnitudeSpectrum(frame: ArrayLike<number>, out: Float64Array | Float32Array): void {
    this.transform(frame);
    const { re, im } = this;
    for (let k = 0; k <= this.size / 2; k++) out[k] = Math.sqrt(re[k] * re[k] + im[k] * im[k]);
  }

  private transform(frame: ArrayLike<number>): void {
    const n = this.size;
    const { re, im, rev, cos, sin } = this;
    for (let i = 0; i < n; i++) {
      re[rev[i]] = i < frame.length ? frame[i] : 0;
      im[rev[i]] = 0;
    }
    for (let len = 2; len <= n; len <<= 1) {
      const half = len >> 1;
      const step = n / len;
      for (let start = 0; start < n; start += len) {
        for (let j = 0; j < half; j++) {
          const wr = cos[j * step];
          const wi = sin[j * step];
          const a = start + j;
          const b = a + half;
          const tr = re[b] * wr - im[b] * wi;
          const ti = re[b] * wi + im[b] * wr;
          re[b] = re[a] - tr;
          im[b] = im[a] - ti;
          re[a] += tr;
          im[a] += ti;
        }
      }
    }
  }
}

/** Periodic Hann window (scipy.signal.get_window('hann', n), librosa's default), not meyda's symmetric one. */
export function hannPeriodic(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}

/** Symmetric Hann window (numpy.hanning). */
export function hannSymmetric(n: number): Float64Array {
  const w = new Float64Array(n);
  if (n === 1) { w[0] = 1; return w; }
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
  return w;
}
