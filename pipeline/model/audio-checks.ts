/**
 * What audio is good enough to enrol or to query, checked the same way at enrolment and at query time:
 * long enough for a window (at least `minAudioSeconds`), and not silent (overall RMS at least −60 dBFS:
 * digital silence, or a dead stream's noise floor, has no peaks to match and enrols as an all-zero row
 * that the encrypted scorer cannot score). One coded error, with the input's name, otherwise.
 */
import { BlindearError } from '../errors.js';

/** Below this RMS (−60 dBFS of full scale ±1) audio is treated as silence. */
export const SILENCE_RMS = 1e-3;
/** The shortest query or track, whatever the window: shorter clips carry too few peaks to decide on. */
export const MIN_AUDIO_SECONDS = 3;

/** The minimum length for a catalogue windowed in `windowSeconds`. */
export function minAudioSeconds(windowSeconds: number): number {
  return Math.min(windowSeconds, MIN_AUDIO_SECONDS);
}

/** Running length and energy of a stream of PCM chunks, so a streamed input is checked without holding it. */
export class AudioStats {
  samples = 0;
  private sumSquares = 0;

  push(pcm: Float32Array): void {
    let s = 0;
    for (let i = 0; i < pcm.length; i++) s += pcm[i] * pcm[i];
    this.sumSquares += s;
    this.samples += pcm.length;
  }

  get rms(): number {
    return this.samples ? Math.sqrt(this.sumSquares / this.samples) : 0;
  }

  /** BLINDEAR_ERR_AUDIO_TOO_SHORT or BLINDEAR_ERR_AUDIO_SILENT naming `what`, or nothing. */
  check(what: string, sampleRate: number, minSeconds: number): void {
    const seconds = this.samples / sampleRate;
    if (seconds < minSeconds) {
      throw new BlindearError('BLINDEAR_ERR_AUDIO_TOO_SHORT', `${what}: ${seconds.toFixed(2)} s of audio, at least ${minSeconds} s needed`);
    }
    if (this.rms < SILENCE_RMS) {
      throw new BlindearError('BLINDEAR_ERR_AUDIO_SILENT', `${what}: ${seconds.toFixed(1)} s at ${(20 * Math.log10(Math.max(this.rms, 1e-12))).toFixed(0)} dBFS RMS`);
    }
  }
}

/** Checks a whole clip. */
export function checkAudio(pcm: Float32Array, what: string, sampleRate: number, minSeconds: number): void {
  const stats = new AudioStats();
  stats.push(pcm);
  stats.check(what, sampleRate, minSeconds);
}
