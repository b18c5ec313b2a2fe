/**
 * Where in a track an answer lies, to a fraction of a second. The catalogue's classes are 35 s segments,
 * so the scores alone place a 10 s query within a few seconds at best. Enrolment also writes a position
 * table: per segment, a record of `slots` time slots of 0.5 s, each a `slotBits`-bit set of the
 * (speed-tolerant) landmark codes that start in it (catalogue side: the union of the STFT framings). After
 * the scores, the client fetches the records of the candidate tracks' best-scoring segments by private
 * retrieval (pipeline/he/position-pir.ts: the server cannot tell which) and aligns its own landmarks
 * against them in the clear, as Shazam's and audfprint's offset histograms do: the offset at which most of
 * the query's codes find their bit set, under each speed hypothesis of the catalogue. An alignment counts
 * only if it stands out from chance (a z-score over the record's bit density, each hit weighted by how rare
 * its bit is in the catalogue); otherwise the scores' offset stays.
 *
 * A record is 76 slots × 64 bytes = 4864 bytes for 38 s segments; with 512 bits per slot about 4% of a
 * record's bits are set (dev catalogue), so 10 s of query (≈150 landmarks) that lines up scores far
 * above the best chance offset. (128-bit slots, 15% set, gave right answers a z about half as high.)
 */
import type { LandmarkParams } from '../../schemas/feature-landmark.js';
import { EnrolmentImpostors, EnrolmentNearDuplicates } from '../../schemas/catalog.js';
import { makeBucketer, speedBucketer, type Bucketer, type Landmarks } from '../dsp/landmarks.js';
import { STFT_HOP, PEAK_SAMPLE_RATE } from '../dsp/spectral-peaks.js';
import { LANDMARK_INPUT_SAMPLE_RATE, queryLandmarks, type ClipLandmarks } from '../features/landmark.js';
import type { Decision } from '../features/types.js';
import type { Segment } from './segment-templates.js';

export const POSITION_SLOT_SECONDS = 0.5;
export const POSITION_SLOT_BITS = 512;
/** An alignment is believed when its hits stand this many standard deviations above chance. */
export const POSITION_MIN_Z = 6;
/**
 * The alignment also checks the answer, as a fingerprint matcher's time-consistency test does: an answer
 * whose own segments do not align above this z is "unknown" (its codes matched, not in time order)...
 */
export const POSITION_CONFIRM_Z = 7;
/**
 * A monitored play is logged only if its decision's 30 s align at least this well (the decide stage's play
 * check). Three times the landmarks of a 10 s query lift a real alignment's z about √3-fold, and partial
 * resemblances with it: on a 12 h broadcast day (`dev`, seed 31) the real plays' 219 checks aligned at
 * z 18.7–98 (median 59.6), the one never-enrolled song that decisions named (as "Nebula") at 7.52 and 6.59.
 */
export const PLAY_CHECK_Z = 12;
/** ...and an "unknown" whose best track aligns this well (and best) is answered. */
export const POSITION_RESCUE_Z = 12;
/** Records fetched per answer: the answer's best-scoring segments. */
export const POSITION_CANDIDATES = 2;
/** Seconds of the query aligned (from its start): enough for a sure alignment, bounded memory for long inputs. */
export const POSITION_QUERY_SECONDS = 30;

const FRAME_SECONDS = STFT_HOP / PEAK_SAMPLE_RATE;

/** The bit a landmark's bucket sets in its slot (a multiplicative hash: neighbouring buckets spread). */
function slotHash(bucket: number): number {
  return Math.imul(bucket + 1, 0x9e3779b1) >>> 0;
}

export function positionSlots(segmentSeconds: number): number {
  return Math.ceil(segmentSeconds / POSITION_SLOT_SECONDS - 1e-9);
}

/** The records of every segment (C × slots·slotBits/8 bytes), from the catalogue-side landmarks of its tracks. */
export function buildPositionTable(
  tracks: ClipLandmarks[], segments: Segment[], segmentSeconds: number, params: LandmarkParams, slotBits = POSITION_SLOT_BITS,
): { table: Uint8Array; slots: number; bytes: number; slotBits: number } {
  if (slotBits % 8 !== 0 || slotBits <= 0) throw new RangeError(`slot bits ${slotBits}: a positive multiple of 8`);
  const slots = positionSlots(segmentSeconds);
  const slotBytes = slotBits / 8;
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
      const bit = slotHash(bucket(code[i])) % slotBits;
      for (const c of own) {
        const seg = segments[c];
        if (sec < seg.startSeconds || sec >= seg.endSeconds) continue;
        const slot = Math.floor((sec - seg.startSeconds) / POSITION_SLOT_SECONDS);
        if (slot >= slots) continue;
        table[c * bytes + slot * slotBytes + (bit >> 3)] |= 1 << (bit & 7);
      }
    }
  });
  return { table, slots, bytes, slotBits };
}

export interface Alignment {
  /** Where the query's start lies from the record's segment start, in seconds (negative: before it). */
  startSeconds: number;
  hits: number;
  /** Hits above chance, in standard deviations. */
  z: number;
  speed: number;
  /** The query's landmarks under this speed hypothesis: `hits` of them hit. */
  landmarks: number;
}

/** A query's landmarks prepared once for every record: per speed hypothesis, each landmark's bit and time. */
export interface PositionQuery {
  hypotheses: { speed: number; hashes: Uint32Array; seconds: Float64Array }[];
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
      return distinctBits(speed, Uint32Array.from(keep, (i) => slotHash(b(landmarks.code[i]))), Float64Array.from(keep, (i) => landmarks.time[i] * FRAME_SECONDS * speed));
    }),
  };
}

/**
 * One landmark per bit and frame: the z-score counts a query's landmarks as independent chances to hit,
 * and two with the same bit within a frame of each other hit or miss together (a query of several
 * framings finds most landmarks once in each; a partner one frame off often keeps the bucket).
 */
function distinctBits(speed: number, hashes: Uint32Array, seconds: Float64Array): PositionQuery['hypotheses'][number] {
  const order = Array.from(hashes.keys()).sort((a, b) => hashes[a] - hashes[b] || seconds[a] - seconds[b]);
  const keep: number[] = [];
  const near = 1.01 * FRAME_SECONDS * speed;
  for (const i of order) {
    const last = keep.length ? keep[keep.length - 1] : -1;
    if (last >= 0 && hashes[last] === hashes[i] && seconds[i] - seconds[last] <= near) continue;
    keep.push(i);
  }
  keep.sort((a, b) => seconds[a] - seconds[b]);
  return { speed, hashes: Uint32Array.from(keep, (i) => hashes[i]), seconds: Float64Array.from(keep, (i) => seconds[i]) };
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
export function bestAlignment(q: PositionQuery, classes: readonly number[], records: readonly Uint8Array[], slots: number, bitShare?: ArrayLike<number>): { a: Alignment; c: number } | null {
  let best: { a: Alignment; c: number } | null = null;
  classes.forEach((c, i) => {
    const a = alignInRecord(q, records[i], slots, bitShare);
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
 * A landmark stays in one slot over a run of about slot/frame consecutive offsets, so its terms are added
 * once per slot to those runs (difference arrays) rather than once per offset: n × slots additions and one
 * pass over the offsets per speed hypothesis instead of n × offsets.
 */
export function alignInRecord(q: PositionQuery, record: Uint8Array, slots: number, bitShare?: ArrayLike<number>): Alignment | null {
  // The slot width is the catalogue's (manifest `slotBits`): a record is `slots` slots of equal bytes.
  const slotBytes = record.length / slots;
  if (!Number.isInteger(slotBytes) || slotBytes < 1) throw new RangeError(`a position record of ${record.length} bytes does not split into ${slots} slots`);
  const slotBits = slotBytes * 8;
  if (bitShare && bitShare.length !== slotBits) throw new RangeError(`${bitShare.length} bit shares for ${slotBits}-bit slots`);
  const rho = new Float64Array(slots);
  for (let s = 0; s < slots; s++) {
    rho[s] = setBits(record.subarray(s * slotBytes, (s + 1) * slotBytes)) / slotBits;
  }
  let mean0 = 0;
  for (const p of rho) mean0 += p / slots;
  const span = slots * POSITION_SLOT_SECONDS;
  // The offsets scanned, from the query's end at the record's start to its start at the record's end.
  const starts: number[] = [];
  for (let start = -q.durationSeconds; start < span; start += FRAME_SECONDS) starts.push(start);
  const K = starts.length;
  const hitRuns = new Float64Array(K + 1);
  const scoreRuns = new Float64Array(K + 1);
  const varianceRuns = new Float64Array(K + 1);
  // The first offset at which a landmark at `t` seconds lies in slot `s` or later (slots grow with offsets).
  const firstAt = (t: number, s: number): number => {
    let k = Math.min(K, Math.max(0, Math.ceil((s * POSITION_SLOT_SECONDS - t + q.durationSeconds) / FRAME_SECONDS) - 1));
    while (k > 0 && Math.floor((t + starts[k - 1]) / POSITION_SLOT_SECONDS) >= s) k--;
    while (k < K && Math.floor((t + starts[k]) / POSITION_SLOT_SECONDS) < s) k++;
    return k;
  };
  const w0 = mean0 > 0 && mean0 < 1 ? -Math.log(mean0) : 1;
  const logRho = Float64Array.from(rho, Math.log);
  const logShare = bitShare ? Float64Array.from(bitShare, Math.log) : null;
  let best: Alignment | null = null;
  for (const h of q.hypotheses) {
    const n = h.hashes.length;
    if (n === 0) continue;
    hitRuns.fill(0);
    scoreRuns.fill(0);
    varianceRuns.fill(0);
    for (let i = 0; i < n; i++) {
      const bit = h.hashes[i] % slotBits;
      const t = h.seconds[i];
      // Weighted by rarity: a landmark whose bit is common across the catalogue (noise-like textures, shared
      // drum patterns) hits by chance more often, and counts for less (weight −ln p, its chance probability).
      let from = firstAt(t, 0);
      for (let s = 0; s < slots && from < K; s++) {
        const to = firstAt(t, s + 1);
        if (to > from) {
          const hit = (record[s * slotBytes + (bit >> 3)] & (1 << (bit & 7))) !== 0 ? 1 : 0;
          const raw = bitShare ? rho[s] * bitShare[bit] : rho[s];
          const p = bitShare ? Math.min(0.5, raw) : raw;
          if (hit) { hitRuns[from] += 1; hitRuns[to] -= 1; }
          if (p > 0 || !bitShare) {
            // −ln p from the logarithms taken once per slot and per bit.
            const w = !bitShare ? 1 : p < raw ? Math.LN2 : -(logRho[s] + logShare![bit]);
            const sc = w * (hit - p);
            const v = w * w * p * (1 - p);
            scoreRuns[from] += sc; scoreRuns[to] -= sc;
            varianceRuns[from] += v; varianceRuns[to] -= v;
          }
        }
        from = to;
      }
    }
    // At least the spread of the whole query's chance hits at the record's mean density: a query that
    // barely overlaps the record gains no z from a few lucky hits.
    const whole = n * mean0 * (1 - mean0) * (bitShare ? w0 * w0 : 1);
    let hits = 0;
    let score = 0;
    let variance = 0;
    for (let k = 0; k < K; k++) {
      hits += hitRuns[k];
      score += scoreRuns[k];
      variance += varianceRuns[k];
      const z = score / Math.sqrt(Math.max(variance, whole, 1e-9));
      if (!best || z > best.z) best = { startSeconds: starts[k], hits: Math.round(hits), z, speed: h.speed, landmarks: n };
    }
  }
  return best;
}

/** What `identify` and a monitor log for a catalogue whose position table has no bit shares (enrolled before them). */
export const UNWEIGHTED_TABLE_WARNING = 'the catalogue\'s position table predates rarity weights: its alignments are held to thresholds set for today\'s tables, more strictly than they were tuned; enrol it again';

/** Bits set in `bytes`. */
export function setBits(bytes: Uint8Array): number {
  let set = 0;
  for (const b of bytes) for (let v = b; v; v >>= 1) set += v & 1;
  return set;
}

/** Each bit's share of the table's set bits, relative to the mean bit (mean 1): how common its codes are. */
export function bitShares(table: Uint8Array, slotBits: number): number[] {
  const slotBytes = slotBits / 8;
  const count = new Float64Array(slotBits);
  for (let off = 0; off < table.length; off += slotBytes) {
    for (let k = 0; k < slotBytes; k++) for (let v = table[off + k], b = 0; v; v >>= 1, b++) if (v & 1) count[k * 8 + b]++;
  }
  const mean = count.reduce((a, c) => a + c, 0) / slotBits;
  return Array.from(count, (c) => (mean > 0 ? Number((Math.max(c, 0.5) / mean).toFixed(4)) : 1));
}

/**
 * Tracks whose records a one-off answer (`identify`, the evaluation) fetches: the answer's (or, for
 * "unknown", the best track's) and the ranking's runners-up. The alignment then checks them all, as a
 * fingerprint matcher verifies its top candidates in time: the best-aligned track is the answer, if it
 * aligns well enough for what the scores said of it. Always this many tracks' records are asked (padded),
 * so what is asked does not show how many tracks the scores ranked or whether an answer was found.
 */
export const POSITION_TRACKS = 3;
/** A runner-up (a track the scores did not put first) is named at this z or more, as the best-aligned candidate. */
export const POSITION_OTHER_Z = 12;
/**
 * A rescue or a runner-up of a track without lookalikes is also named at this z or more when it aligns
 * POSITION_CLEAR_RATIO times as well as the next candidate: a right track that the noise or a voice over
 * it left below POSITION_OTHER_Z still stands alone, while a wrong one rarely does. 8 with queries of one
 * framing (README "Rescues that stand alone"); 10 since queries take four (a wrong one alone at z 10.0,
 * README "Queries of four framings").
 */
export const POSITION_CLEAR_Z = 10;
export const POSITION_CLEAR_RATIO = 2.25;
/**
 * A runner-up of a track without lookalikes, named over the scores' best track, must also align this many
 * times as well as the next candidate: the right track is often that next one, close behind.
 */
export const POSITION_RUNNER_UP_RATIO = 1.75;
/**
 * A rescue or runner-up of a track with lookalikes must align this many times as well as the next
 * candidate, whatever its z: a query over a lookalike's shared material aligns with every version of it
 * (on the recorded sets, wrong ones at z 21–31 with the next at 1.25–1.7 times less).
 */
export const POSITION_LOOKALIKE_RESCUE_RATIO = 2;
/**
 * Added to the rescue's and the runner-up's z for a track the enrolment found lookalikes for (another
 * version, a medley holding other tracks' passages): its records align with other tracks' audio too.
 */
export const POSITION_LOOKALIKE_Z = 10;
/**
 * ...and the scores' answer, when it is such a track, is kept only if it aligns this many times as well
 * as the next candidate: wrong answers at low SNR were mostly tracks of those groups, confirmed at a z
 * that right answers have too, but with another candidate close behind.
 */
export const POSITION_LOOKALIKE_RATIO = 2.5;
/**
 * ...and this many times, when its impostors align at POSITION_LESSER_LOOKALIKE_Z or more: on five
 * recorded sets (3200 excerpts) the two wrong answers left were confirmations of such tracks (impostor
 * z 10.7 and 11.4) at 3–4 times the next candidate, and on the acceptance harness's `dev` excerpts one
 * more (9.0, another version of the track played) at 3.1 times; 3 right answers of 2389 stood between
 * 2.5 and 4.5 times (README "Greater lookalikes confirm at 4.5 times").
 */
export const POSITION_GREATER_LOOKALIKE_RATIO = 4.5;
/** ...unless it aligns this well: no wrong candidate aligned above z 30.0 on three seeds of the tuning packages. */
export const POSITION_LOOKALIKE_SURE_Z = 35;
/**
 * A named track's best alignment must also hit this share of the query's landmarks (under its speed
 * hypothesis), unless it aligns at POSITION_LOOKALIKE_SURE_Z. The z weighs each hit by its bit's rarity
 * in that stretch of the record, so a few hits in a sparse stretch (a quiet passage, whose few bits the
 * landmarks noise makes also find) reach z 12–25 while explaining a tenth of the query or less; a right
 * track explains a third of it at the median even at 5 s and 0 dB (README "A share of the query's
 * landmarks").
 */
export const POSITION_MIN_HIT_SHARE = 0.12;
/**
 * A best-aligned candidate without lookalikes that hits this share of the query's landmarks, at
 * POSITION_MIN_Z or more and POSITION_HIT_RATIO times the next candidate's z, is named whatever the
 * scores said of it: a wrong candidate's alignment seldom explains a quarter of a query (README "A share
 * of the query's landmarks").
 */
export const POSITION_CLEAR_HIT_SHARE = 0.25;
export const POSITION_HIT_RATIO = 1.5;
/**
 * A candidate whose best alignment is at a speed hypothesis other than 1 counts this much less in the
 * decision: most music is played at its own speed, while a wrong track's chance or lookalike alignment
 * is found at one of the other hypotheses more often than not (on `dev` excerpts at 5 s and 0 dB, 20 of 28
 * wrong best-aligned candidates at z ≥ 9, against 5 of 42 right ones). 2 and 3 tie on the tuning
 * packages; 3 costs more excerpts played 4 % off speed (README "Speed hypotheses in the decision").
 */
export const POSITION_OFF_SPEED_Z = 2;

/** An alignment's weight in the decision: its z, less POSITION_OFF_SPEED_Z unless found at speed 1. */
export function decisionZ(a: Pick<Alignment, 'z' | 'speed'>): number {
  return a.speed === 1 ? a.z : a.z - POSITION_OFF_SPEED_Z;
}

/**
 * Impostors aligned at enrolment: excerpts of the catalogue's own tracks, POSITION_IMPOSTOR_SECONDS long
 * under white or pink noise at POSITION_IMPOSTOR_SNR_DB, each aligned against every other track's records.
 * Some records line up with much of what is played over noise (sustained textures, a medley holding other
 * tracks' passages, another version): on `dev` excerpts at low SNR most wrong answers named a few such
 * tracks, at a z that right answers have too. Their impostors find them.
 */
export const POSITION_IMPOSTORS = 80;
export const POSITION_IMPOSTOR_SECONDS = 10;
export const POSITION_IMPOSTOR_SNR_DB = 0;
/** A track's impostor z: the mean decision z of its POSITION_IMPOSTOR_TOP best alignments with other tracks' impostors. */
export const POSITION_IMPOSTOR_TOP = 10;
/**
 * A track of the scores' near-duplicate groups whose impostor z reaches this is a lookalike for the
 * decision (POSITION_LOOKALIKE_Z and _RATIO). On `dev` (213 tracks) that is 46 of the groups' 77: on six
 * recorded sets (3660 excerpts) 30 more right answers with the same 7 wrong, and on the acceptance
 * harness's excerpts 5 more with none wrong (README "Lookalikes found by impostors").
 */
export const POSITION_HUB_Z = 6;
/**
 * A lookalike whose impostors align below this z (the wrong answers at low SNR name mostly those above
 * it: `track25.opus` 9.4, `clavelian_march.ogg` 10.5, `Compost.ogg` 10.0) is let off the doubt when it
 * stands POSITION_LESSER_LOOKALIKE_RATIO times above the next candidate. On seven recorded sets (5300
 * excerpts) 16 more right answers and no more wrong ones; the wrong best-aligned lookalikes at 3 times the
 * next or more all had impostor z 9.6 or more (README "Rescues that stand alone").
 */
export const POSITION_LESSER_LOOKALIKE_Z = 8.5;
export const POSITION_LESSER_LOOKALIKE_RATIO = 3;

/** Per track, the mean of its POSITION_IMPOSTOR_TOP best decision z against the impostors of other tracks (0 if none). */
export function impostorZ(
  table: Uint8Array, slots: number, segments: readonly Segment[], trackCount: number,
  impostors: readonly { track: number; query: PositionQuery }[], bitShare?: ArrayLike<number>,
): number[] {
  const bytes = segments.length > 0 ? table.length / segments.length : 0;
  const seen: number[][] = Array.from({ length: trackCount }, () => []);
  const best = new Float64Array(trackCount);
  for (const imp of impostors) {
    best.fill(-Infinity);
    segments.forEach((seg, c) => {
      if (seg.track === imp.track) return;
      const a = alignInRecord(imp.query, table.subarray(c * bytes, (c + 1) * bytes), slots, bitShare);
      if (a) best[seg.track] = Math.max(best[seg.track], decisionZ(a));
    });
    best.forEach((z, t) => { if (z > -Infinity) seen[t].push(z); });
  }
  return seen.map((zs) => {
    const top = zs.sort((a, b) => b - a).slice(0, POSITION_IMPOSTOR_TOP);
    return top.length > 0 ? top.reduce((a, b) => a + b, 0) / top.length : 0;
  });
}

/**
 * The tracks a decision doubts: those the scores' calibration found near-duplicates for
 * (nearDuplicateTracks) whose records also align with other tracks' audio, their impostor z (manifest
 * `enrolment.impostors.z`) reaching POSITION_HUB_Z. A catalogue enrolled before impostors were aligned
 * doubts all of its near-duplicates.
 */
export function lookalikeTracks(enrolment: unknown): Set<number> {
  return lookalikesOf(enrolment).lookalikes;
}

/**
 * Tracks the scores' calibration found near-duplicates for (`enrolment.calibration.nearDuplicates`: tracks
 * that vote nearly as high on a track's excerpts). The airplay log confirms their plays by a second decision.
 */
export function nearDuplicateTracks(enrolment: unknown): Set<number> {
  const groups = EnrolmentNearDuplicates.safeParse(enrolment).data?.calibration.nearDuplicates ?? [];
  return new Set(groups.filter((g) => g.length > 1).map((g) => g[0]));
}

/**
 * The records worth fetching: for each of the first `tracks` candidate tracks (the answer's or the best
 * track's, then the ranking's next), its `count` best-scoring segments (best summed score first).
 */
export function positionCandidates(decision: Decision, scores: ArrayLike<number>[], segments: Segment[], count = POSITION_CANDIDATES, tracks = 1): number[] {
  const first = decision.track ?? decision.bestTrack;
  const chosen = [first, ...decision.ranking.map((r) => r.track).filter((t) => t !== first)].slice(0, tracks);
  const out: number[] = [];
  for (const track of chosen) {
    const own: { c: number; s: number }[] = [];
    segments.forEach((seg, c) => {
      if (seg.track !== track) return;
      let s = 0;
      for (const w of scores) s += w[c];
      own.push({ c, s });
    });
    out.push(...own.sort((a, b) => b.s - a.s).slice(0, count).map((o) => o.c));
  }
  return out;
}

/** `classes` padded to `n` by repeating the first (a track of one segment, a ranking of fewer tracks): every fetch looks alike. */
export function padCandidates(classes: readonly number[], n: number): number[] {
  return Array.from({ length: Math.max(n, classes.length) }, (_, i) => classes[i] ?? classes[0]);
}

/**
 * The decision's doubts from the manifest's enrolment: its lookalikes (lookalikeTracks), and the lesser
 * ones among them, whose impostor z stays below POSITION_LESSER_LOOKALIKE_Z: a rescue or runner-up of
 * theirs that aligns POSITION_LESSER_LOOKALIKE_RATIO times as well as the next candidate needs no more
 * than any other track's; and the greater ones, the rest, whose confirmation needs
 * POSITION_GREATER_LOOKALIKE_RATIO. Neither for a catalogue enrolled before impostors were aligned.
 */
export function lookalikesOf(enrolment: unknown): { lookalikes: Set<number>; lesserLookalikes: Set<number>; greaterLookalikes: Set<number> } {
  const near = nearDuplicateTracks(enrolment);
  const impostors = EnrolmentImpostors.safeParse(enrolment).data?.impostors.z;
  if (!impostors) return { lookalikes: near, lesserLookalikes: new Set(), greaterLookalikes: new Set() };
  const lookalikes = new Set([...near].filter((t) => (impostors[t] ?? 0) >= POSITION_HUB_Z));
  const lesser = (t: number): boolean => impostors[t] < POSITION_LESSER_LOOKALIKE_Z;
  return {
    lookalikes,
    lesserLookalikes: new Set([...lookalikes].filter(lesser)),
    greaterLookalikes: new Set([...lookalikes].filter((t) => !lesser(t))),
  };
}

/** What the alignment needs of the catalogue: its slots per record, its bit shares, its tracks with lookalikes. */
export interface PositionLayout {
  slots: number;
  bitShare?: ArrayLike<number>;
  lookalikes?: ReadonlySet<number>;
  /** Lookalikes let off the doubt when they stand alone (lookalikesOf). */
  lesserLookalikes?: ReadonlySet<number>;
  /** Lookalikes whose confirmation needs POSITION_GREATER_LOOKALIKE_RATIO (lookalikesOf). */
  greaterLookalikes?: ReadonlySet<number>;
}

/**
 * The decision checked and placed by the alignments of the fetched records (`records[i]` is class
 * `classes[i]`'s), best per track, which it carries as `position`. The best-aligned candidate track is
 * named if it aligns at POSITION_CONFIRM_Z and was the scores' answer, at POSITION_RESCUE_Z and was the
 * scores' best track of an "unknown", or at POSITION_OTHER_Z as a runner-up (the last two plus
 * POSITION_LOOKALIKE_Z for a track with lookalikes, the first only at POSITION_LOOKALIKE_RATIO times the
 * next candidate's z, POSITION_GREATER_LOOKALIKE_RATIO for a greater lookalike, or at
 * POSITION_LOOKALIKE_SURE_Z); a rescue or runner-up without lookalikes also at
 * POSITION_CLEAR_Z and POSITION_CLEAR_RATIO times the next candidate's z, and a lesser lookalike's without
 * the doubt at POSITION_LESSER_LOOKALIKE_RATIO times it; a runner-up without lookalikes only at
 * POSITION_RUNNER_UP_RATIO times the next candidate's z, a rescue or runner-up with lookalikes only at
 * POSITION_LOOKALIKE_RESCUE_RATIO times it. A best-aligned track without lookalikes that hits
 * POSITION_CLEAR_HIT_SHARE of the query's landmarks is also named at POSITION_MIN_Z and POSITION_HIT_RATIO
 * times the next candidate's z; and no track is named that hits less than POSITION_MIN_HIT_SHARE of them
 * below POSITION_LOOKALIKE_SURE_Z. Otherwise the answer is "unknown". Candidates are
 * ranked and held to these thresholds by decisionZ: an alignment found at a speed other than 1 counts
 * POSITION_OFF_SPEED_Z less (its own z decides the z ≥ POSITION_LOOKALIKE_SURE_Z exception). A named track
 * whose alignment stands out (z ≥ POSITION_MIN_Z) has its offset placed by it; otherwise the scores'
 * offset stays. Thresholds chosen on the tuning packages (README "Recognition quality").
 */
export function placeOffset(decision: Decision, q: PositionQuery, classes: number[], records: Uint8Array[], segments: Segment[], layout: PositionLayout): Decision {
  const perTrack = new Map<number, { a: Alignment; c: number }>();
  const seen = new Set<number>();
  classes.forEach((c, i) => {
    // Padding repeats a class (and its record): aligned once.
    if (seen.has(c)) return;
    seen.add(c);
    const a = alignInRecord(q, records[i], layout.slots, layout.bitShare);
    const track = segments[c].track;
    const had = perTrack.get(track);
    if (a && (!had || a.z > had.a.z)) perTrack.set(track, { a, c });
  });
  if (perTrack.size === 0) return decision;
  // Ranked by decision z; `z` stays the alignment's own.
  const tracks = [...perTrack].map(([track, b]) => ({ track, z: b.a.z, speed: b.a.speed, hits: b.a.hits, landmarks: b.a.landmarks })).sort((x, y) => decisionZ(y) - decisionZ(x));
  const first = decision.track ?? decision.bestTrack;
  const top = tracks[0];
  const weight = decisionZ(top);
  const lookalike = layout.lookalikes?.has(top.track) ?? false;
  const confirming = top.track === first && decision.track !== null;
  const next = Math.max(0, tracks[1] ? decisionZ(tracks[1]) : 0);
  const lesser = (layout.lesserLookalikes?.has(top.track) ?? false) && weight >= POSITION_LESSER_LOOKALIKE_RATIO * next;
  const doubt = lookalike && !lesser ? POSITION_LOOKALIKE_Z : 0;
  const need = top.track !== first ? POSITION_OTHER_Z + doubt : confirming ? POSITION_CONFIRM_Z : POSITION_RESCUE_Z + doubt;
  const ratio = layout.greaterLookalikes?.has(top.track) ? POSITION_GREATER_LOOKALIKE_RATIO : POSITION_LOOKALIKE_RATIO;
  const clear = !(confirming && lookalike) || top.z >= POSITION_LOOKALIKE_SURE_Z || weight >= ratio * next;
  const alone = !confirming && !lookalike && weight >= POSITION_CLEAR_Z && weight >= POSITION_CLEAR_RATIO * next;
  const apart = confirming || (lookalike ? weight >= POSITION_LOOKALIKE_RESCUE_RATIO * next
    : top.track === first || weight >= POSITION_RUNNER_UP_RATIO * next);
  // What share of the query's landmarks the alignment hits: too few is no answer, a large share one.
  const enoughHits = top.z >= POSITION_LOOKALIKE_SURE_Z || top.hits >= POSITION_MIN_HIT_SHARE * top.landmarks;
  const byHits = !lookalike && weight >= POSITION_MIN_Z && top.hits >= POSITION_CLEAR_HIT_SHARE * top.landmarks
    && weight >= POSITION_HIT_RATIO * next;
  const named = (((weight >= need || alone) && clear && apart) || byHits) && enoughHits ? top.track : null;
  const shown = perTrack.get(named ?? first) ?? perTrack.get(top.track)!;
  const placed: Decision = {
    ...decision, track: named,
    position: { z: shown.a.z, hits: shown.a.hits, speed: shown.a.speed, scoreTrack: decision.track, tracks },
  };
  if (named === null || shown.a.z < POSITION_MIN_Z) return placed;
  return { ...placed, offsetSeconds: Math.max(0, segments[shown.c].startSeconds + shown.a.startSeconds) };
}
