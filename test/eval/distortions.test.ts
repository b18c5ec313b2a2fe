/**
 * The evaluation's distortions do what their names say, measured on the output: SNR of the noise mixes,
 * attenuation of the telephone band, length and pitch after a speed change, clipping after gain, and the
 * codec round trips through the bundled ffmpeg.
 */
import { describe, expect, it } from 'vitest';
import { codecUnavailableReason, transcodePcm } from '../../connectors/transcode.js';
import { DEFAULT_CONDITIONS, parseCondition, parseConditions } from '../../pipeline/eval/conditions.js';
import { BabblePool, BABBLE_VOICES } from '../../pipeline/eval/babble.js';
import { applyGain, bandPass, changeSpeed, changeTempo, meanPower, mixAtSnr } from '../../pipeline/eval/distortions.js';
import { SpeechPool, SPEECH_SCRIPT, SPEECH_VOICES } from '../../pipeline/eval/speech.js';
import { addWhiteNoise, seededRandom } from '../../pipeline/model/calibrate.js';

const SR = 22050;

function tone(hz: number, seconds: number, amp = 0.5, sr = SR): Float32Array {
  const x = new Float32Array(Math.round(seconds * sr));
  for (let i = 0; i < x.length; i++) x[i] = amp * Math.sin((2 * Math.PI * hz * i) / sr);
  return x;
}

/** A music-like test signal: a few partials with a slow amplitude envelope. */
function chord(seconds: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const x = new Float32Array(Math.round(seconds * SR));
  const partials = Array.from({ length: 5 }, () => ({ hz: 150 + rand() * 3000, phase: rand() * 6.28, amp: 0.05 + rand() * 0.1 }));
  for (let i = 0; i < x.length; i++) {
    const env = 0.6 + 0.4 * Math.sin((2 * Math.PI * i) / SR / 1.7);
    let v = 0;
    for (const p of partials) v += p.amp * Math.sin((2 * Math.PI * p.hz * i) / SR + p.phase);
    x[i] = env * v;
  }
  return x;
}

const db = (p: number): number => 10 * Math.log10(p);

function measuredSnr(clean: Float32Array, noisy: Float32Array): number {
  const noise = new Float32Array(clean.length);
  for (let i = 0; i < clean.length; i++) noise[i] = noisy[i] - clean[i];
  return db(meanPower(clean) / meanPower(noise));
}

/** Power of the steady part (the first 0.2 s hold the filter's transient). */
const steadyPower = (x: Float32Array): number => meanPower(x.subarray(Math.round(0.2 * SR)));

/** Frequency from the zero crossings of a pure tone. */
function toneHz(x: Float32Array, sr = SR): number {
  let crossings = 0;
  for (let i = 1; i < x.length; i++) if (x[i - 1] < 0 && x[i] >= 0) crossings++;
  return (crossings * sr) / x.length;
}

describe('noise mixes', () => {
  const clean = chord(10, 1);

  it.each([20, 10, 0])('white noise at %i dB SNR measures within 0.5 dB', (snr) => {
    expect(Math.abs(measuredSnr(clean, addWhiteNoise(clean, snr, seededRandom(snr))) - snr)).toBeLessThan(0.5);
  });

  it.each([20, 10, 0])(`babble of ${BABBLE_VOICES} never-enrolled voices at %i dB SNR measures within 0.5 dB`, (snr) => {
    const pool = new BabblePool(10, SR);
    for (let t = 0; t < BABBLE_VOICES + 2; t++) pool.addTrack(`track-${t}`, chord(12, 100 + t), seededRandom(t));
    expect(pool.ready()).toBe(true);
    const babble = pool.mix(10, seededRandom(snr));
    expect(babble.length).toBe(clean.length);
    expect(Math.abs(measuredSnr(clean, mixAtSnr(clean, babble, snr)) - snr)).toBeLessThan(0.5);
  });

  it('a babble mix takes distinct tracks and is repeatable from its seed', () => {
    const pool = new BabblePool(10, SR);
    for (let t = 0; t < BABBLE_VOICES; t++) pool.addTrack(`track-${t}`, chord(12, 200 + t), seededRandom(t));
    expect(pool.tracks).toHaveLength(BABBLE_VOICES);
    expect(pool.mix(5, seededRandom(3))).toEqual(pool.mix(5, seededRandom(3)));
    const short = new BabblePool(10, SR);
    short.addTrack('only', chord(12, 1), seededRandom(1));
    expect(short.ready()).toBe(false);
    expect(() => short.mix(5, seededRandom(1))).toThrow(/needs 6 source tracks/);
  });
});

describe('telephone band-pass', () => {
  it('attenuates a 100 Hz tone by more than 20 dB and passes 1 kHz within 1 dB', () => {
    const low = tone(100, 2);
    const mid = tone(1000, 2);
    expect(db(steadyPower(low) / steadyPower(bandPass(low, SR)))).toBeGreaterThan(20);
    expect(Math.abs(db(steadyPower(mid) / steadyPower(bandPass(mid, SR))))).toBeLessThan(1);
  });

  it('attenuates 6 kHz by more than 20 dB', () => {
    const high = tone(6000, 2);
    expect(db(steadyPower(high) / steadyPower(bandPass(high, SR)))).toBeGreaterThan(20);
  });
});

describe('speed change', () => {
  it.each([2, -2])('a speed change of %i percent changes the length and the pitch by as much', (percent) => {
    const x = tone(1000, 10);
    const y = changeSpeed(x, percent);
    expect(y.length / x.length).toBeCloseTo(1 / (1 + percent / 100), 4);
    expect(toneHz(y)).toBeCloseTo(1000 * (1 + percent / 100), -1);
    // Band-limited: the level of the tone is kept.
    expect(Math.abs(db(meanPower(y) / meanPower(x)))).toBeLessThan(0.1);
  });
});

describe('tempo change (pitch kept)', () => {
  it.each([3, -3, 4])('a tempo change of %i percent changes the length but not the pitch', (percent) => {
    const x = tone(1000, 10);
    const y = changeTempo(x, percent, SR);
    expect(y.length / x.length).toBeCloseTo(1 / (1 + percent / 100), 3);
    expect(toneHz(y)).toBeCloseTo(1000, -1);
    expect(Math.abs(db(meanPower(y) / meanPower(x)))).toBeLessThan(0.5);
  });

  it('a click moves in time by the tempo factor', () => {
    // a click at 8 s comes out at 8 / 1.04 s
    const x = new Float32Array(10 * SR);
    x.fill(0.01);
    for (let i = 0; i < 200; i++) x[8 * SR + i] = 0.9;
    const y = changeTempo(x, 4, SR);
    let at = 0;
    for (let i = 0; i < y.length; i++) if (Math.abs(y[i]) > Math.abs(y[at])) at = i;
    expect(Math.abs(at / SR - 8 / 1.04)).toBeLessThan(0.03);
  });
});

describe('speech over music', () => {
  /** A stand-in for espeak-ng: a buzzy voice-like tone per sentence, length from the text. */
  const fakeVoice = async (text: string, v: { voice: string; wordsPerMinute: number }): Promise<Float32Array> => {
    const seconds = (text.split(' ').length / v.wordsPerMinute) * 60;
    return chord(seconds, text.length + v.wordsPerMinute);
  };

  it.each([0, 6])('mixes a voice at %i dB below the music within 0.5 dB, repeatably', async (snr) => {
    const pool = await SpeechPool.create(SR, fakeVoice);
    expect(pool.seconds).toBeGreaterThan(30);
    const music = chord(10, 5);
    const voice = pool.take(10, seededRandom(snr));
    expect(voice).toEqual(pool.take(10, seededRandom(snr)));
    expect(Math.abs(measuredSnr(music, mixAtSnr(music, voice, snr)) - snr)).toBeLessThan(0.5);
  });

  it('reads the whole script with every voice', async () => {
    const heard: string[] = [];
    await SpeechPool.create(SR, async (text, v) => { heard.push(`${v.voice}|${text}`); return fakeVoice(text, v); });
    expect(new Set(heard).size).toBe(SPEECH_SCRIPT.length * SPEECH_VOICES.length);
  });
});

describe('gain', () => {
  it('−20 dB scales, +6 dB clips at full scale', () => {
    const x = tone(440, 1, 0.9);
    expect(db(meanPower(applyGain(x, -20)) / meanPower(x))).toBeCloseTo(-20, 3);
    const hot = applyGain(x, 6);
    expect(Math.max(...hot)).toBe(1);
    expect(Math.min(...hot)).toBe(-1);
  });
});

describe('codec round trips (bundled ffmpeg)', () => {
  it.each([['mp3', 64], ['opus', 64], ['mulaw', undefined]] as const)('%s keeps the length and the tone', async (codec, kbps) => {
    expect(await codecUnavailableReason(codec)).toBeNull();
    const x = tone(440, 5, 0.3);
    const y = await transcodePcm(x, SR, { codec, bitrateKbps: kbps });
    expect(y.length).toBe(x.length);
    expect(Math.abs(db(steadyPower(y) / steadyPower(x)))).toBeLessThan(1);
    expect(toneHz(y.subarray(SR))).toBeCloseTo(440, -1);
  });
});

describe('condition names', () => {
  it('parses every default condition and keeps its name', () => {
    for (const name of DEFAULT_CONDITIONS) expect(parseCondition(name).name).toBe(name);
    expect(parseCondition('10s-white-10dB')).toEqual({ name: '10s-white-10dB', seconds: 10, distortion: { kind: 'white', snrDb: 10 } });
    expect(parseCondition('5s-speed-2%').distortion).toEqual({ kind: 'speed', percent: -2 });
    expect(parseCondition('10s-gain+6dB').distortion).toEqual({ kind: 'gain', db: 6 });
    expect(parseCondition('10s-tempo-3%').distortion).toEqual({ kind: 'tempo', percent: -3 });
    expect(parseCondition('10s-speech-6dB').distortion).toEqual({ kind: 'speech', snrDb: 6 });
    expect(parseCondition('10s-opus-64k').distortion).toEqual({ kind: 'codec', codec: 'opus', bitrateKbps: 64 });
  });

  it('rejects unknown distortions, bad lengths and duplicates with the reason', () => {
    expect(() => parseCondition('10s-reverb')).toThrow(/unknown distortion/);
    expect(() => parseCondition('white-10dB')).toThrow(/<seconds>s-<distortion>/);
    expect(() => parseCondition('0s-clean')).toThrow(/1 to 60 s/);
    expect(() => parseConditions(['10s-clean', '10s-clean'])).toThrow(/given twice/);
  });
});
