/**
 * Speech over music: a presenter's voice (several synthetic speakers reading a fixed script) mixed into
 * the query at a music-to-voice ratio, as a radio host talks over an intro. The pool holds one long
 * voice track per speaker, pauses between sentences included (they are part of talking over music);
 * each query takes a seeded stretch of one speaker that has voice in it.
 */
import { rmsDbfs } from '../model/calibrate.js';

/** A fixed script: what a presenter might say over a record (no lyrics of any catalogue track). */
export const SPEECH_SCRIPT: readonly string[] = [
  'Good morning and welcome back to the breakfast show, it is twenty past seven and the traffic is already building on the ring road.',
  'That was a request from Maria in the north of the city, who is celebrating her parents\' fortieth wedding anniversary today.',
  'Coming up after the news we have the weather for the weekend, the football results, and a competition with tickets to give away.',
  'If you want to get in touch, send us a message or call the studio, the lines are open until nine o\'clock.',
  'Here is one of my favourites from last summer, turn it up if you are in the car, and drive carefully out there.',
  'The temperature this afternoon will reach nineteen degrees with a light wind from the west and some cloud later on.',
  'We are giving away two tickets to the festival, all you have to do is tell us the name of the band that played the first song this morning.',
  'Thanks for all your messages about the concert last night, it sounds like everybody had a wonderful time in the park.',
];

/** Voices (espeak-ng voice+variant) and their speaking rates: two men and two women. */
export const SPEECH_VOICES: readonly { voice: string; wordsPerMinute: number }[] = [
  { voice: 'en-us+m3', wordsPerMinute: 165 },
  { voice: 'en-gb+f3', wordsPerMinute: 155 },
  { voice: 'en-gb+m1', wordsPerMinute: 175 },
  { voice: 'en-us+f2', wordsPerMinute: 160 },
];

/** Silence between sentences in the voice track. */
const SENTENCE_GAP_SECONDS = 0.4;
/** A stretch must be at least this loud to carry voice (the silence rule of the queries). */
const MIN_VOICE_DBFS = -45;

export type Synthesise = (text: string, voice: { voice: string; wordsPerMinute: number }) => Promise<Float32Array>;

export class SpeechPool {
  readonly sampleRate: number;
  readonly #tracks: Float32Array[];

  private constructor(sampleRate: number, tracks: Float32Array[]) {
    this.sampleRate = sampleRate;
    this.#tracks = tracks;
  }

  /** Reads the script with every voice (the sentences in a voice-specific rotation), gaps between sentences. */
  static async create(sampleRate: number, synthesise: Synthesise): Promise<SpeechPool> {
    const gap = new Float32Array(Math.round(SENTENCE_GAP_SECONDS * sampleRate));
    const tracks: Float32Array[] = [];
    for (const [v, voice] of SPEECH_VOICES.entries()) {
      const parts: Float32Array[] = [];
      for (let i = 0; i < SPEECH_SCRIPT.length; i++) {
        parts.push(await synthesise(SPEECH_SCRIPT[(i + 2 * v) % SPEECH_SCRIPT.length], voice), gap);
      }
      const total = parts.reduce((a, p) => a + p.length, 0);
      const track = new Float32Array(total);
      let at = 0;
      for (const p of parts) { track.set(p, at); at += p.length; }
      tracks.push(track);
    }
    return new SpeechPool(sampleRate, tracks);
  }

  /** Seconds of the shortest voice track: the longest stretch one query can take. */
  get seconds(): number {
    return Math.min(...this.#tracks.map((t) => t.length)) / this.sampleRate;
  }

  /** `seconds` of one speaker from a seeded offset, redrawn (up to 30 times) until it holds voice. */
  take(seconds: number, rand: () => number): Float32Array {
    const n = Math.round(seconds * this.sampleRate);
    if (seconds > this.seconds) throw new RangeError(`${seconds} s of speech asked from voice tracks of ${this.seconds.toFixed(1)} s`);
    const track = this.#tracks[Math.floor(rand() * this.#tracks.length)];
    let part = track.subarray(0, n);
    for (let i = 0; i < 30; i++) {
      const off = Math.floor(rand() * (track.length - n + 1));
      part = track.subarray(off, off + n);
      if (rmsDbfs(part) >= MIN_VOICE_DBFS) break;
    }
    return Float32Array.from(part);
  }
}
