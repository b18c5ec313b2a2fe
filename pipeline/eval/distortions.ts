/**
 * Signal distortions of evaluation queries, in pure TypeScript (the codec round trips go through ffmpeg:
 * connectors/transcode.ts). White noise is calibrate.ts's addWhiteNoise. Each returns a new array.
 */

/** Mean power of x (no silence guard: callers mix into excerpts already drawn above −45 dBFS). */
export function meanPower(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s / Math.max(1, x.length);
}

/**
 * signal + noise scaled so that 10·log10(P_signal / P_noise) = snrDb, over the signal's length (the
 * noise must be at least as long).
 */
export function mixAtSnr(signal: Float32Array, noise: Float32Array, snrDb: number): Float32Array {
  if (noise.length < signal.length) throw new RangeError(`noise has ${noise.length} samples, signal ${signal.length}`);
  const n = noise.subarray(0, signal.length);
  const pn = meanPower(n);
  const g = pn > 0 ? Math.sqrt(meanPower(signal) / (pn * 10 ** (snrDb / 10))) : 0;
  const out = new Float32Array(signal.length);
  for (let i = 0; i < out.length; i++) out[i] = signal[i] + g * n[i];
  return out;
}

/** Level change; what goes beyond full scale is clipped, as a hot broadcast chain would. */
export function applyGain(x: Float32Array, db: number): Float32Array {
  const g = 10 ** (db / 20);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.max(-1, Math.min(1, x[i] * g));
  return out;
}

interface Biquad { b0: number; b1: number; b2: number; a1: number; a2: number }

/** RBJ audio-EQ-cookbook low- or high-pass section. */
function biquad(type: 'lowpass' | 'highpass', f0: number, q: number, sampleRate: number): Biquad {
  const w0 = (2 * Math.PI * f0) / sampleRate;
  const cos = Math.cos(w0);
  const alpha = Math.sin(w0) / (2 * q);
  const a0 = 1 + alpha;
  const b = type === 'lowpass' ? [(1 - cos) / 2, 1 - cos, (1 - cos) / 2] : [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2];
  return { b0: b[0] / a0, b1: b[1] / a0, b2: b[2] / a0, a1: (-2 * cos) / a0, a2: (1 - alpha) / a0 };
}

function runBiquad(x: Float64Array, s: Biquad): void {
  let z1 = 0;
  let z2 = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const y = s.b0 * v + z1;
    z1 = s.b1 * v - s.a1 * y + z2;
    z2 = s.b2 * v - s.a2 * y;
    x[i] = y;
  }
}

/** Q of the two sections of a 4th-order Butterworth filter. */
const BUTTERWORTH_4_Q = [0.5411961, 1.3065630];

/**
 * Telephone band: 4th-order Butterworth high-pass at lowHz and low-pass at highHz (−24 dB/octave each
 * side: a 100 Hz tone comes out ≈ 38 dB down with the 300 Hz edge). Causal, as a phone line is.
 */
export function bandPass(x: Float32Array, sampleRate: number, lowHz = 300, highHz = 3400): Float32Array {
  const y = Float64Array.from(x);
  for (const q of BUTTERWORTH_4_Q) runBiquad(y, biquad('highpass', lowHz, q, sampleRate));
  for (const q of BUTTERWORTH_4_Q) runBiquad(y, biquad('lowpass', highHz, q, sampleRate));
  return Float32Array.from(y);
}

/** Half-width (input samples at the output rate) of the interpolation kernel. */
const SINC_HALF_WIDTH = 16;

/**
 * Plays x `percent` faster (negative: slower) by resampling, so tempo and pitch change together and the
 * length becomes length / (1 + percent/100). Band-limited interpolation: a Blackman-windowed sinc whose
 * cutoff follows the lower of the two Nyquist rates, so speeding up does not alias.
 */
export function changeSpeed(x: Float32Array, percent: number): Float32Array {
  const f = 1 + percent / 100;
  if (!(f > 0)) throw new RangeError(`speed change ${percent}% leaves no signal`);
  const outLen = Math.floor(x.length / f);
  const out = new Float32Array(outLen);
  const fc = Math.min(1, 1 / f);
  const half = Math.ceil(SINC_HALF_WIDTH / fc);
  for (let n = 0; n < outLen; n++) {
    const t = n * f;
    const k0 = Math.floor(t);
    let acc = 0;
    let norm = 0;
    for (let k = k0 - half + 1; k <= k0 + half; k++) {
      if (k < 0 || k >= x.length) continue;
      const tau = t - k;
      const u = tau / half;
      if (u <= -1 || u >= 1) continue;
      const arg = Math.PI * fc * tau;
      const sinc = arg === 0 ? 1 : Math.sin(arg) / arg;
      const w = 0.42 + 0.5 * Math.cos(Math.PI * u) + 0.08 * Math.cos(2 * Math.PI * u);
      const h = sinc * w;
      acc += h * x[k];
      norm += h;
    }
    // Normalising by the kernel's sum keeps unit gain at DC, also at the edges where it is cut.
    out[n] = norm !== 0 ? acc / norm : 0;
  }
  return out;
}

/** WSOLA frame (≈ 46 ms at 22050 Hz), synthesis hop (half a frame) and the alignment search's reach. */
const WSOLA_FRAME_SECONDS = 0.046;
const WSOLA_TOLERANCE_SECONDS = 0.01;

/**
 * Plays x `percent` faster (negative: slower) with its pitch kept: waveform-similarity overlap-add
 * (WSOLA, Verhelst & Roelands 1993). Output frames of a periodic Hann window overlap by half (they sum
 * to one); each is read from the input near its nominal place, shifted by up to ±10 ms to the position
 * that best continues the previous frame's waveform, so periodic sounds keep their phase. The length
 * becomes length / (1 + percent/100).
 */
export function changeTempo(x: Float32Array, percent: number, sampleRate: number): Float32Array {
  const f = 1 + percent / 100;
  if (!(f > 0)) throw new RangeError(`tempo change ${percent}% leaves no signal`);
  const n = 2 * Math.round((WSOLA_FRAME_SECONDS * sampleRate) / 2);
  const hs = n / 2;
  const tol = Math.round(WSOLA_TOLERANCE_SECONDS * sampleRate);
  const outLen = Math.floor(x.length / f);
  const out = new Float64Array(outLen + n);
  const win = new Float64Array(n);
  for (let i = 0; i < n; i++) win[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  const at = (i: number): number => (i >= 0 && i < x.length ? x[i] : 0);
  let prev = 0; // where the previous frame was read from
  for (let k = 0; k * hs < outLen; k++) {
    const nominal = Math.round(k * hs * f);
    let start = nominal;
    if (k > 0) {
      // The natural continuation of the previous frame starts hs after it; find the shift around the
      // nominal position whose first half-frame correlates best with it.
      const cont = prev + hs;
      let best = -Infinity;
      for (let dlt = -tol; dlt <= tol; dlt++) {
        const s = nominal + dlt;
        if (s < 0) continue;
        let c = 0;
        for (let i = 0; i < hs; i += 2) c += at(cont + i) * at(s + i);
        if (c > best) { best = c; start = s; }
      }
    }
    const o = k * hs;
    for (let i = 0; i < n; i++) out[o + i] += win[i] * at(start + i);
    prev = start;
  }
  // The first half-frame had no predecessor to overlap: scale it back up where the window is rising.
  for (let i = 0; i < hs && i < outLen; i++) out[i] /= Math.max(win[i], 1e-3);
  return Float32Array.from(out.subarray(0, outLen));
}
