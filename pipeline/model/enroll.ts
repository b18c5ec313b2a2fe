/**
 * Enrolment: decode every track of the inputs, extract the catalogue's features, build the linear model
 * (segment templates for landmarks, logistic regression for MFCC windows), calibrate the client's
 * "unknown" threshold, and write the catalogue. Undecodable files are reported and skipped.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { readTags, type AudioTags } from '../../connectors/tags.js';
import { checkAudio, minAudioSeconds } from './audio-checks.js';
import { LandmarkParams } from '../../schemas/feature-landmark.js';
import { mfccSumDim, MfccSumParams } from '../../schemas/feature-mfcc.js';
import { HeParams, scoreHeadroomBits } from '../../schemas/he.js';
import type { CatalogManifest, CatalogTrack } from '../../schemas/catalog.js';
import { BlindearError, isBlindearError } from '../errors.js';
import { hypothesisWindows, queryLandmarks, type ClipLandmarks } from '../features/landmark.js';
import { mfccSumWindows } from '../features/mfcc-sum.js';
import { PIPELINE_SAMPLE_RATE } from '../features/registry.js';
import { Mfcc } from '../dsp/mfcc.js';
import { mixAtSnr } from '../eval/distortions.js';
import type { LinearModel } from '../features/types.js';
import type { Logger } from '../runtime/logger.js';
import { calibrateThreshold, drawExcerpt, seededRandom, addWhiteNoise, pinkNoise, type ScoredExcerpt } from './calibrate.js';
import { saveCatalog } from './catalog-store.js';
import { scoreWindow, trainLogisticRegression } from './logistic-regression.js';
import { buildSegmentTemplatesFromLandmarks, catalogueLandmarks, scoreInClear } from './segment-templates.js';
import {
  bitShares, buildPositionTable, impostorZ, POSITION_IMPOSTOR_SECONDS, POSITION_IMPOSTOR_SNR_DB, POSITION_IMPOSTOR_TOP, POSITION_IMPOSTORS, positionQuery, type PositionQuery,
} from './position.js';

export const AUDIO_EXTENSIONS = ['.ogg', '.mp3', '.flac', '.wav', '.opus', '.m4a', '.aac'];

export interface AudioInput {
  /** Absolute or cwd-relative path to read. */
  file: string;
  /** Path recorded in the catalogue: relative to the enrolled folder, or the file name. */
  path: string;
}

/** Audio files under folders (recursively, following symlinks) and files given directly, sorted. */
export async function listAudioInputs(inputs: readonly string[]): Promise<AudioInput[]> {
  const out: AudioInput[] = [];
  for (const input of inputs) {
    let st;
    try {
      st = await stat(input);
    } catch {
      throw new BlindearError('BLINDEAR_ERR_INPUT_NOT_FOUND', input);
    }
    if (st.isDirectory()) {
      const walk = async (dir: string): Promise<void> => {
        for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
          const full = join(dir, e.name);
          const isDir = e.isDirectory() || (e.isSymbolicLink() && (await stat(full).catch(() => null))?.isDirectory());
          if (isDir) await walk(full);
          else if (AUDIO_EXTENSIONS.includes(extname(e.name).toLowerCase())) out.push({ file: full, path: relative(input, full) });
        }
      };
      await walk(input);
    } else {
      out.push({ file: input, path: basename(input) });
    }
  }
  return out;
}

export type FeatureKindName = 'landmark' | 'mfcc-sum';

export interface EnrollOptions {
  inputs: readonly string[];
  catalogDir: string;
  kind: FeatureKindName;
  /** Overrides of the kind's defaults (validated by the kind's schema). */
  params?: Record<string, unknown>;
  he?: Partial<HeParams>;
  /** How queries are scored (default 'ckks'); 'lwe' needs the landmark features. */
  scheme?: 'ckks' | 'lwe';
  /** Bits per 0.5 s slot of the landmark catalogue's position table (default POSITION_SLOT_BITS). */
  positionSlotBits?: number;
  logger: Logger;
  seed?: number;
  concurrency?: number;
  /** After each input is processed: how many of how many (for a progress bar). */
  onProgress?: (done: number, of: number) => void;
}

interface DecodedTrack {
  input: AudioInput;
  durationSeconds: number;
  tags?: AudioTags;
}

/** Decodes inputs with bounded concurrency, handing each track's PCM to `use` and then dropping it. */
async function forEachDecoded(
  inputs: AudioInput[], concurrency: number, logger: Logger, minSeconds: number,
  use: (track: DecodedTrack, pcm: Float32Array, index: number) => void,
): Promise<{ ok: DecodedTrack[]; skipped: { path: string; reason: string }[] }> {
  const results: (DecodedTrack | { path: string; reason: string })[] = new Array(inputs.length);
  const pcms = new Map<number, Float32Array>();
  let next = 0;
  let handed = 0;
  // Decoding runs ahead in parallel (ffmpeg processes); features are extracted in input order.
  const flush = (): void => {
    while (pcms.has(handed) || (results[handed] && 'reason' in results[handed])) {
      const pcm = pcms.get(handed);
      if (pcm) { use(results[handed] as DecodedTrack, pcm, handed); pcms.delete(handed); }
      handed++;
    }
  };
  const worker = async (): Promise<void> => {
    while (next < inputs.length) {
      const i = next++;
      const input = inputs[i];
      try {
        const pcm = await decodeFile(input.file, { sampleRate: PIPELINE_SAMPLE_RATE });
        checkAudio(pcm, input.path, PIPELINE_SAMPLE_RATE, minSeconds);
        results[i] = { input, durationSeconds: pcm.length / PIPELINE_SAMPLE_RATE, tags: await readTags(input.file) };
        pcms.set(i, pcm);
      } catch (err) {
        if (!isBlindearError(err)) throw err;
        logger.warn({ path: input.path, code: err.code }, `skipped: ${err.message}`);
        results[i] = { path: input.path, reason: err.message };
      }
      flush();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  flush();
  return {
    ok: results.filter((r): r is DecodedTrack => !('reason' in r)),
    skipped: results.filter((r): r is { path: string; reason: string } => 'reason' in r),
  };
}

function trackEntry(t: DecodedTrack): CatalogTrack {
  // The file's own title tag where it has one (with its artist), else the file name.
  const title = t.tags?.title ? (t.tags.artist ? `${t.tags.artist} – ${t.tags.title}` : t.tags.title) : basename(t.input.path, extname(t.input.path));
  return { path: t.input.path, title, durationSeconds: t.durationSeconds };
}

/**
 * Speed hypotheses an LWE catalogue's queries carry unless told otherwise: three (−3 %, 0, +3 %) cost the
 * server 3 × 0.4 ms per 15 s window; a CKKS query carries one (each hypothesis is another 2048-slot
 * ciphertext, ×3 the scoring time).
 */
export const LWE_QUERY_SPEEDS = [0.97, 1, 1.03];
/**
 * Probe windows an LWE catalogue's live queries carry unless told otherwise: 5 s probes (three per 15 s
 * window, each with the speed hypotheses) place a play's start and end to a probe instead of a window's hop,
 * for 9 more vectors per window (0.4 ms each on the server).
 */
export const LWE_PROBE_SECONDS = 5;

function landmarkParamsFor(opts: EnrollOptions): LandmarkParams {
  const given = opts.params ?? {};
  const scheme = opts.scheme ?? 'ckks';
  const params = LandmarkParams.parse(scheme === 'lwe'
    ? { ...given, querySpeeds: given.querySpeeds ?? LWE_QUERY_SPEEDS, probeSeconds: given.probeSeconds ?? LWE_PROBE_SECONDS }
    : given);
  if (scheme === 'ckks' && params.querySpeeds.length > 1) {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `querySpeeds ${JSON.stringify(params.querySpeeds)}: a CKKS query ciphertext carries one window; speed hypotheses need --scheme lwe`);
  }
  if (scheme === 'ckks' && params.probeSeconds > 0) {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `probeSeconds ${params.probeSeconds}: a CKKS query ciphertext carries one window; probe windows need --scheme lwe`);
  }
  return params;
}

export async function enrollCatalog(opts: EnrollOptions): Promise<CatalogManifest> {
  if (opts.scheme === 'lwe' && opts.kind !== 'landmark') throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', "scheme 'lwe' needs unit-norm windows: enrol with --kind landmark");
  const inputs = await listAudioInputs(opts.inputs);
  if (inputs.length === 0) throw new BlindearError('BLINDEAR_ERR_CATALOG_EMPTY', `no audio files (${AUDIO_EXTENSIONS.join(' ')}) in ${opts.inputs.join(', ')}`);
  const started = Date.now();
  const log = opts.logger;
  let done = 0;
  const progress = (i: number): void => {
    opts.onProgress?.(++done, inputs.length);
    if ((i + 1) % 10 === 0 || i + 1 === inputs.length) log.info({ done: i + 1, of: inputs.length }, 'enrolling');
  };
  const manifest = opts.kind === 'landmark'
    ? await enrollLandmarks(inputs, landmarkParamsFor(opts), opts, progress)
    : await enrollMfcc(inputs, MfccSumParams.parse(opts.params ?? {}), opts, progress);
  log.info({ tracks: manifest.tracks.length, classes: manifest.classes.track.length, dim: manifest.dim, seconds: (Date.now() - started) / 1000 }, 'catalogue written');
  return manifest;
}

/**
 * Encryption parameters for a catalogue of `kind` whose windows hop by `hopSeconds` and have `dim` features.
 *
 * - Packing: a query ciphertext costs the server the same whether it carries one window or many, and the
 *   layout planner optimises the cost per window of a full ciphertext; so packing is capped at what a
 *   10 s query (or 10 s of a stream) fills. With 15 s landmark windows that is one window, and the
 *   planner then picks the single-window layout.
 * - Modulus: landmark scores are cosines of non-negative L2-normalised vectors (|s| ≤ 1, bias 0), far
 *   inside the headroom of one data prime with inputs at 2^30 and weights at 2^20 (relative error
 *   ≈ 2e-4 measured), so the server never rescales. Up to d = 2048 the ring is N = 4096 (2048 slots,
 *   [54, 55]): one query of d = 2048 fills a ciphertext exactly, the periodic layout then computes up to
 *   2048 class scores in d products, and each product and rotation costs half of N = 8192's: 260 ms per
 *   2040 × 2048 query against 527 ms at N = 8192 (bench/he-scoring.ts). Wider windows need N = 8192.
 *   MFCC logistic scores are unbounded: they keep [60, 40, 60] at 2^40.
 */
export function heParamsFor(kind: FeatureKindName, hopSeconds: number, dim: number, overrides: Partial<HeParams> = {}): HeParams {
  const landmark = dim <= 2048
    ? { polyModulusDegree: 4096, coeffModulusBits: [54, 55], scaleBits: 30, weightScaleBits: 20 }
    : { polyModulusDegree: 8192, coeffModulusBits: [60, 60], scaleBits: 30, weightScaleBits: 20 };
  const modulus = kind === 'landmark' ? landmark : {};
  return HeParams.parse({ ...modulus, maxWindowsPerCiphertext: Math.min(32, Math.max(1, Math.floor(10 / hopSeconds))), ...overrides });
}

/**
 * Encryption parameters of an MFCC catalogue. Logistic scores have no a-priori bound, so they get
 * [60, 40, 60] at 2^40 — except 'mean' queries (one window per 15 s: the seed's shape), whose scores are
 * bounded by the training windows' (a mean lies within its members' range): when 4× that bound fits the
 * headroom of one prime at N = 4096 (|s| < 2^10 with the product at 2^42), the server never rescales and
 * a 1000-class query costs ≈ 8 ms instead of ≈ 40 (bench/he-scoring.ts). The two scales share the 42
 * bits as `meanQueryScales` balances them for the catalogue's own windows and weights.
 */
export const MEAN_QUERY_HE_PARAMS: HeParams = Object.freeze(HeParams.parse({
  polyModulusDegree: 4096, coeffModulusBits: [54, 55], scaleBits: 16, weightScaleBits: 26, maxWindowsPerCiphertext: 1,
})) as HeParams;

/**
 * The input and weight scales (bits, summing to MEAN_QUERY_HE_PARAMS' 42) that balance the two errors of
 * a one-prime product for windows X and weights W. A score's error has two parts: the query's encryption
 * noise (≈ 10^4 per slot at N = 4096, i.e. 10^4 / 2^inputs) times the weights, and the weights' encoding
 * rounding (≈ 18.5 per slot, 18.5 / 2^weights) times the inputs; they are equal when
 * 2^(weights − inputs) = (rms x / rms w) / 540. Summed MFCCs (rms ≈ 10^3–10^4) against logistic weights of
 * hundredths give 17 / 25 on the ci set (max error 1.1e-4–8.1e-4 of the score range over 12 real 15 s
 * excerpts; fixed scales measured 2e-4–1.1e-3 at 16 / 26, 1e-3 at 12 / 30 and 18 / 24); the bench's
 * unit-norm random windows against weights of tenths give 25 / 17.
 */
export function meanQueryScales(model: LinearModel, X: readonly Float32Array[]): { scaleBits: number; weightScaleBits: number } {
  const total = MEAN_QUERY_HE_PARAMS.scaleBits + MEAN_QUERY_HE_PARAMS.weightScaleBits;
  let xs = 0;
  let xn = 0;
  for (const x of X) for (const v of x) { xs += v * v; xn++; }
  let ws = 0;
  for (const v of model.weights) ws += v * v;
  const rx = Math.sqrt(xs / Math.max(1, xn));
  const rw = Math.sqrt(ws / Math.max(1, model.weights.length));
  if (!(rx > 0) || !(rw > 0)) return { scaleBits: MEAN_QUERY_HE_PARAMS.scaleBits, weightScaleBits: MEAN_QUERY_HE_PARAMS.weightScaleBits };
  const diff = Math.round(Math.log2(rx / rw / 540));
  const scaleBits = Math.min(32, Math.max(10, Math.round((total - diff) / 2)));
  return { scaleBits, weightScaleBits: total - scaleBits };
}

function mfccHeParams(params: MfccSumParams, model: LinearModel, X: Float32Array[], overrides: Partial<HeParams> = {}): HeParams {
  // A 'mean' query covers meanOfWindows hops: heParamsFor then packs one query per ciphertext.
  const queryHop = params.query === 'mean' ? params.meanOfWindows * params.hopSeconds : params.hopSeconds;
  const byDefault = heParamsFor('mfcc-sum', queryHop, mfccSumDim(params), overrides);
  if (params.query !== 'mean') return byDefault;
  const onePrime = HeParams.parse({ ...MEAN_QUERY_HE_PARAMS, ...meanQueryScales(model, X), ...overrides });
  let bound = 0;
  for (const x of X) for (const s of scoreWindow(model, x)) bound = Math.max(bound, Math.abs(s));
  return 4 * bound < 2 ** scoreHeadroomBits(onePrime) ? onePrime : byDefault;
}

async function enrollLandmarks(
  inputs: AudioInput[], params: LandmarkParams, opts: EnrollOptions, progress: (i: number) => void,
): Promise<CatalogManifest> {
  const he = heParamsFor('landmark', params.hopSeconds, params.d, opts.he);
  const rand = seededRandom(opts.seed ?? 7);
  const landmarks: ClipLandmarks[] = [];
  // Calibration excerpts (query-side landmarks of a 10 s and a 5 s excerpt, some with noise), drawn
  // while each track is in memory so the catalogue never holds all PCM at once.
  const probes: { trackIndex: number; clip: ClipLandmarks }[] = [];
  // Impostors for the position decision (POSITION_IMPOSTORS excerpts, drawn over the inputs from their own
  // seeds so that the calibration probes above are drawn as before).
  const seed = opts.seed ?? 7;
  const impostorRand = seededRandom((seed ^ 0x5eed1a) >>> 0);
  const impostorsOf = new Array<number>(inputs.length).fill(0);
  for (let k = 0; k < POSITION_IMPOSTORS; k++) impostorsOf[Math.floor(impostorRand() * inputs.length)]++;
  const impostors: { track: number; query: PositionQuery }[] = [];
  // Silent or too short tracks are skipped (and listed), as a query of them would be refused.
  const { ok, skipped } = await forEachDecoded(inputs, opts.concurrency ?? 2, opts.logger, minAudioSeconds(params.windowSeconds), (_t, pcm, i) => {
    const trackIndex = landmarks.length;
    landmarks.push(catalogueLandmarks(pcm, params));
    for (const seconds of [10, 5]) {
      const ex = drawExcerpt(pcm, PIPELINE_SAMPLE_RATE, seconds, rand);
      if (!ex) continue;
      const snr = [null, 20, 10, 0][Math.floor(rand() * 4)];
      const q = snr === null ? ex.pcm : addWhiteNoise(ex.pcm, snr, rand);
      probes.push({ trackIndex, clip: queryLandmarks(q, params) });
    }
    const own = seededRandom((seed * 1_000_003 + i) >>> 0);
    for (let k = 0; k < impostorsOf[i]; k++) {
      const ex = drawExcerpt(pcm, PIPELINE_SAMPLE_RATE, POSITION_IMPOSTOR_SECONDS, own);
      if (!ex) continue;
      const noisy = own() < 0.5 ? addWhiteNoise(ex.pcm, POSITION_IMPOSTOR_SNR_DB, own) : mixAtSnr(ex.pcm, pinkNoise(ex.pcm.length, own), POSITION_IMPOSTOR_SNR_DB);
      impostors.push({ track: trackIndex, query: positionQuery(queryLandmarks(noisy, params).landmarks, POSITION_IMPOSTOR_SECONDS, params) });
    }
    progress(i);
  });
  if (ok.length === 0) throw new BlindearError('BLINDEAR_ERR_CATALOG_EMPTY', `no input could be enrolled (${skipped.map((s) => s.reason).slice(0, 3).join('; ')})`);
  const templates = buildSegmentTemplatesFromLandmarks(landmarks, params);
  const excerpts: ScoredExcerpt[] = probes.map((p) => {
    // Windowed as queries are (with the speed hypotheses), so the threshold is for the client's best-of scores.
    const w = hypothesisWindows(p.clip, params, templates.idf);
    return { scores: scoreInClear(templates.model, w), windowStartSeconds: w.startSeconds, clipSeconds: p.clip.durationSeconds, track: p.trackIndex };
  });
  const calibration = ok.length > 1
    ? calibrateThreshold(excerpts, templates.segments, params)
    : undefined;
  const position = buildPositionTable(landmarks, templates.segments, templates.segmentSeconds, params, opts.positionSlotBits);
  const finalParams = LandmarkParams.parse({
    ...params,
    segmentSeconds: templates.segmentSeconds,
    segmentHopSeconds: templates.segmentHopSeconds,
    threshold: calibration?.threshold ?? params.threshold,
  });
  return saveCatalog(opts.catalogDir, {
    feature: {
      kind: 'landmark', params: finalParams, idf: Array.from(templates.idf),
      ...(calibration && params.trackThresholdScale > 0 ? { trackThresholds: calibration.trackThresholds } : {}),
    },
    he,
    tracks: ok.map(trackEntry),
    classes: {
      track: templates.segments.map((s) => s.track),
      startSeconds: templates.segments.map((s) => s.startSeconds),
      endSeconds: templates.segments.map((s) => s.endSeconds),
    },
    dim: params.d,
    skipped,
    enrolment: {
      seed, calibration: calibration ?? null,
      impostors: {
        excerpts: impostors.length, seconds: POSITION_IMPOSTOR_SECONDS, snrDb: POSITION_IMPOSTOR_SNR_DB, top: POSITION_IMPOSTOR_TOP,
        z: impostorZ(position.table, position.slots, templates.segments, ok.length, impostors, bitShares(position.table, position.slotBits)).map((z) => Number(z.toFixed(3))),
      },
    },
  }, templates.model, { scheme: opts.scheme ?? 'ckks' }, position);
}

async function enrollMfcc(
  inputs: AudioInput[], params: MfccSumParams, opts: EnrollOptions, progress: (i: number) => void,
): Promise<CatalogManifest> {
  const mfcc = new Mfcc(params);
  const X: Float32Array[] = [];
  const y: number[] = [];
  let trackIndex = 0;
  const { ok, skipped } = await forEachDecoded(inputs, opts.concurrency ?? 2, opts.logger, minAudioSeconds(params.windowSeconds), (_t, pcm, i) => {
    // Every window of the whole track trains the model (the seed used only the first 15 s).
    const w = mfccSumWindows(pcm, params, mfcc);
    for (const v of w.vectors) { X.push(v); y.push(trackIndex); }
    trackIndex++;
    progress(i);
  });
  if (ok.length === 0) throw new BlindearError('BLINDEAR_ERR_CATALOG_EMPTY', `no input could be enrolled (${skipped.map((s) => s.reason).slice(0, 3).join('; ')})`);
  const model = trainLogisticRegression(X, y, ok.length, { l2: params.l2 });
  const he = mfccHeParams(params, model, X, opts.he);
  return saveCatalog(opts.catalogDir, {
    feature: { kind: 'mfcc-sum', params },
    he,
    tracks: ok.map(trackEntry),
    classes: { track: ok.map((_, i) => i), startSeconds: ok.map(() => 0), endSeconds: ok.map((t) => t.durationSeconds) },
    dim: model.dim,
    skipped,
    enrolment: { seed: opts.seed ?? 7, windows: X.length },
  }, model);
}
