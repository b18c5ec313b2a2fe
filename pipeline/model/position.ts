/**
 * Where in a track an answer lies, to a fraction of a second. The catalogue's classes are 35 s segments,
 * so the scores alone place a 10 s query within a few seconds at best. Enrolment also writes a position
 * table: per segment, a record of `slots` time slots of 0.5 s, each a 128-bit set of the (speed-tolerant)
 * landmark codes that start in it (catalogue side: the union of the STFT framings). After the answer, the
 * client fetches the records of the answer's best-scoring segments by private retrieval
 * (pipeline/he/position-pir.ts: the server cannot tell which) and aligns its own landmarks against them in
 * the clear, as Shazam's and audfprint's offset histograms do: the offset at which most of the query's
 * codes find their bit set, under each speed hypothesis of the catalogue. An alignment counts only if it
 * stands out from chance (z-score over the record's bit density); otherwise the scores' offset stays.
 *
 * A record is 70 slots × 16 bytes = 1120 bytes for 35 s segments; with 128 bits per slot about 15% of a
 * record's bits are set (dev catalogue), so a chance hit is 0.15 and 10 s of query (≈150 landmarks) that
 * lines up scores far above the best chance offset.
 */
import type { LandmarkParams } from '../../schemas/feature-landmark.js';
import type { PositionParams } from '../../schemas/catalog.js';
import { makeBucketer, speedBucketer, type Bucketer, type Landmarks } from '../dsp/landmarks.js';
import { STFT_HOP, PEAK_SAMPLE_RATE } from '../dsp/spectral-peaks.js';
import { LANDMARK_INPUT_SAMPLE_RATE, queryLandmarks, type ClipLandmarks } from '../features/landmark.js';
import type { Decision } from '../features/types.js';
import type { Segment } from './segment-templates.js';

export const POSITION_SLOT_SECONDS = 0.5;
export const POSITION_SLOT_BITS = 128;
/** An alignment is believed when its hits stand this many standard deviations above chance. */
export const POSITION_MIN_Z = 6;
/**
 * The alignment also checks the answer, as a fingerprint matcher's time-consistency test does: an answer
 * whose own segments do not align above this z is "unknown" (its codes matched, not in time order)...
 */
export const POSITION_CONFIRM_Z = 4.5;
/**
 * A monitored play is logged only if its decision's 30 s align at least this well (the decide stage's play
 * check). Three times the landmarks of a 10 s query lift a real alignment's z about √3-fold, and partial
 * resemblances with it: on four broadcast days (20.8 h, `dev`) the real plays' checks aligned at z 8.99–50
 * (one first check at 5.95, of a decision holding only a play's first seconds: its re-check passed), the
 * one never-enrolled song that decisions named (as "Nebula") at 6.45 and 6.38.
 */
export const PLAY_CHECK_Z = 8;
/** ...and an "unknown" whose best track aligns this well, with at least this confidence, is answered. */
export const POSITION_RESCUE_Z = 11;
export const POSITION_RESCUE_MIN_CONFIDENCE = 0.3;
/** Records fetched per answer: the answer's best-scoring segments. */
export const POSITION_CANDIDATES = 2;
/** Seconds of the query aligned (from its start): enough for a sure alignment, bounded memory for long inputs. */
export const POSITION_QUERY_SECONDS = 30;

const FRAME_SECONDS = STFT_HOP / PEAK_SAMPLE_RATE;

/** The bit a landmark's bucket sets in its slot (a multiplicative hash: neighbouring buckets spread). */
function slotBit(bucket: number, bits: number): number {
  return (Math.imul(bucket + 1, 0x9e3779b1) >>> 0) % bits;
}

export function positionSlots(segmentSeconds: number): number {
  return Math.ceil(segmentSeconds / POSITION_SLOT_SECONDS - 1e-9);
}

/** The records of every segment (C × slots·slotBits/8 bytes), from the catalogue-side landmarks of its tracks. */
export function buildPositionTable(tracks: ClipLandmarks[], segments: Segment[], segmentSeconds: number, params: LandmarkParams): { table: Uint8Array; slots: number; bytes: number } {
  const slots = positionSlots(segmentSeconds);
  const slotBytes = POSITION_SLOT_BITS / 8;
  const bytes = slots * slotBytes;
  const table = new Uint8Array(segments.length * bytes);
  const bucket = makeBucketer(params);
  const byTrack = new Map<number, number[]>();
  segments.forEach((s, c) => { const l = byTrack.get(s.track); if (l) l.push(c); else byTrack.set(s.track, [c]); });
  tracks.forEach((t, track) => {
    const own = byTrack.get(track) ?? [];
    const { time, code } = t.landmarks;
    for (let i = 0; i < code.length; i++) {
      const sec = time[i] * FRAME_SECONDS;
      const bit = slotBit(bucket(code[i]), POSITION_SLOT_BITS);
      for (const c of own) {
        const seg = segments[c];
        if (sec < seg.startSeconds || sec >= seg.endSeconds) continue;
        const slot = Math.floor((sec - seg.startSeconds) / POSITION_SLOT_SECONDS);
        if (slot >= slots) continue;
        table[c * bytes + slot * slotBytes + (bit >> 3)] |= 1 << (bit & 7);
      }
    }
  });
  return { table, slots, bytes };
}

export interface Alignment {
  /** Where the query's start lies from the record's segment start, in seconds (negative: before it). */
  startSeconds: number;
  hits: number;
  /** Hits above chance, in standard deviations. */
  z: number;
  speed: number;
}

/** A query's landmarks prepared once for every record: per speed hypothesis, each landmark's bit and time. */
export interface PositionQuery {
  hypotheses: { speed: number; bits: Int32Array; seconds: Float64Array }[];
  durationSeconds: number;
}

export function positionQuery(landmarks: Pick<Landmarks, 'code' | 'time'>, durationSeconds: number, params: LandmarkParams, bucket: Bucketer = makeBucketer(params)): PositionQuery {
  const keep: number[] = [];
  for (let i = 0; i < landmarks.code.length; i++) if (landmarks.time[i] * FRAME_SECONDS < POSITION_QUERY_SECONDS) keep.push(i);
  return {
    durationSeconds: Math.min(durationSeconds, POSITION_QUERY_SECONDS),
    hypotheses: params.querySpeeds.map((speed) => {
      const b = speed === 1 ? bucket : speedBucketer(bucket, speed);
      // Heard at speed s, a landmark t seconds into the query lies t·s into the track's audio.
      return {
        speed,
        bits: Int32Array.from(keep, (i) => slotBit(b(landmarks.code[i]), POSITION_SLOT_BITS)),
        seconds: Float64Array.from(keep, (i) => landmarks.time[i] * FRAME_SECONDS * speed),
      };
    }),
  };
}

/** Frames a packed landmark's time can hold (11 bits: 47 s at 11025/256 Hz). */
const PACKED_FRAMES = 2048;

/**
 * Landmarks as u32 words, code << 11 | frame (codes are < 2^21), for the landmarks of a window carried to
 * the decision: frames from the window's start; landmarks past PACKED_FRAMES are left out.
 */
export function packLandmarks(l: Pick<Landmarks, 'code' | 'time'>): Uint32Array {
  const out: number[] = [];
  for (let i = 0; i < l.code.length; i++) {
    const f = Math.round(l.time[i]);
    if (f >= 0 && f < PACKED_FRAMES && l.code[i] < 2 ** 21) out.push(((l.code[i] << 11) | f) >>> 0);
  }
  return Uint32Array.from(out);
}

/** Packed landmark words as base64 of u32 little-endian words (how they travel in envelopes and state). */
export function landmarkWordsToBase64(words: Uint32Array): string {
  const b = Buffer.alloc(words.length * 4);
  for (let i = 0; i < words.length; i++) b.writeUInt32LE(words[i], 4 * i);
  return b.toString('base64');
}

/** Packed landmark words from their base64 (a trailing partial word is dropped). */
export function landmarkWordsFromBase64(b64: string): Uint32Array {
  const b = Buffer.from(b64, 'base64');
  const out = new Uint32Array(b.length >> 2);
  for (let i = 0; i < out.length; i++) out[i] = b.readUInt32LE(4 * i);
  return out;
}

/** Windows' packed landmarks laid end to end: `starts[i]` is window i's start, seconds from the first's. */
export function unpackLandmarks(windows: readonly Uint32Array[], starts: readonly number[]): Pick<Landmarks, 'code' | 'time'> {
  const n = windows.reduce((a, w) => a + w.length, 0);
  const code = new Uint32Array(n);
  const time = new Float32Array(n);
  let k = 0;
  windows.forEach((w, i) => {
    const shift = Math.round(starts[i] / FRAME_SECONDS);
    for (const word of w) {
      code[k] = word >>> 11;
      time[k++] = (word & (PACKED_FRAMES - 1)) + shift;
    }
  });
  return { code, time };
}

/** The best alignment of a query among records (`records[i]` of class `classes[i]`), or null. */
export function bestAlignment(q: PositionQuery, classes: readonly number[], records: readonly Uint8Array[], slots: number): { a: Alignment; c: number } | null {
  let best: { a: Alignment; c: number } | null = null;
  classes.forEach((c, i) => {
    const a = alignInRecord(q, records[i], slots);
    if (a && (!best || a.z > best.a.z)) best = { a, c };
  });
  return best;
}

/** The position query of a clip's first POSITION_QUERY_SECONDS of 22050 Hz PCM. */
export function positionQueryOfPcm(pcm22050: Float32Array, params: LandmarkParams): PositionQuery {
  const head = pcm22050.subarray(0, Math.round(POSITION_QUERY_SECONDS * LANDMARK_INPUT_SAMPLE_RATE));
  return positionQuery(queryLandmarks(head, params).landmarks, head.length / LANDMARK_INPUT_SAMPLE_RATE, params);
}

/**
 * The best offset of the query in one record (scanned at STFT-frame steps), with its hits and z-score.
 * Chance is counted slot by slot: a landmark landing in a slot whose bits are a fraction ρ set hits by
 * chance with probability ρ, so a query laid over a record's densest stretch gains no z from the density.
 */
export function alignInRecord(q: PositionQuery, record: Uint8Array, slots: number): Alignment | null {
  const slotBytes = POSITION_SLOT_BITS / 8;
  if (record.length !== slots * slotBytes) throw new RangeError(`a position record of ${record.length} bytes, expected ${slots * slotBytes}`);
  const rho = new Float64Array(slots);
  for (let s = 0; s < slots; s++) {
    let set = 0;
    for (let k = s * slotBytes; k < (s + 1) * slotBytes; k++) for (let v = record[k]; v; v >>= 1) set += v & 1;
    rho[s] = set / POSITION_SLOT_BITS;
  }
  let mean0 = 0;
  for (const p of rho) mean0 += p / slots;
  const span = slots * POSITION_SLOT_SECONDS;
  let best: Alignment | null = null;
  for (const h of q.hypotheses) {
    const n = h.bits.length;
    if (n === 0) continue;
    const whole = n * mean0 * (1 - mean0);
    for (let start = -q.durationSeconds; start < span; start += FRAME_SECONDS) {
      let hits = 0;
      let mean = 0;
      let variance = 0;
      for (let i = 0; i < n; i++) {
        const slot = Math.floor((h.seconds[i] + start) / POSITION_SLOT_SECONDS);
        if (slot < 0 || slot >= slots) continue;
        const p = rho[slot];
        mean += p;
        variance += p * (1 - p);
        const bit = h.bits[i];
        if (record[slot * slotBytes + (bit >> 3)] & (1 << (bit & 7))) hits++;
      }
      // At least the spread of the whole query's chance hits at the record's mean density: a query that
      // barely overlaps the record gains no z from a few lucky hits.
      const z = (hits - mean) / Math.sqrt(Math.max(variance, whole, 1e-9));
      if (!best || z > best.z) best = { startSeconds: start, hits, z, speed: h.speed };
    }
  }
  return best;
}

/**
 * The best track's segments, best summed score first (the records worth fetching): the answer's, or for
 * "unknown" the best track's, so that whether an answer was found does not show in what is asked.
 */
export function positionCandidates(decision: Decision, scores: ArrayLike<number>[], segments: Segment[], count = POSITION_CANDIDATES): number[] {
  const track = decision.track ?? decision.bestTrack;
  const own: { c: number; s: number }[] = [];
  segments.forEach((seg, c) => {
    if (seg.track !== track) return;
    let s = 0;
    for (const w of scores) s += w[c];
    own.push({ c, s });
  });
  return own.sort((a, b) => b.s - a.s).slice(0, count).map((o) => o.c);
}

/**
 * The decision checked and placed by the best alignment among the fetched records (`records[i]` is class
 * `classes[i]`'s), which it carries as `position`: an answer below POSITION_CONFIRM_Z becomes "unknown";
 * an "unknown" at POSITION_RESCUE_Z or more (and POSITION_RESCUE_MIN_CONFIDENCE) names its best track;
 * an answer whose alignment stands out (z ≥ POSITION_MIN_Z) has its offset placed by it, otherwise the
 * scores' offset stays. Thresholds chosen on the tuning packages (README "Recognition quality").
 */
export function placeOffset(decision: Decision, q: PositionQuery, classes: number[], records: Uint8Array[], segments: Segment[], position: Pick<PositionParams, 'slots'>): Decision {
  const best = bestAlignment(q, classes, records, position.slots);
  if (!best) return decision;
  const { a, c } = best;
  const placed: Decision = { ...decision, position: { z: a.z, hits: a.hits, speed: a.speed } };
  if (placed.track !== null && a.z < POSITION_CONFIRM_Z) placed.track = null;
  else if (placed.track === null && a.z >= POSITION_RESCUE_Z && decision.confidence >= POSITION_RESCUE_MIN_CONFIDENCE) placed.track = decision.bestTrack;
  if (placed.track === null || a.z < POSITION_MIN_Z) return placed;
  return { ...placed, offsetSeconds: Math.max(0, segments[c].startSeconds + a.startSeconds) };
}
