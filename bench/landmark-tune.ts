/**
 * Tuning bench for the landmark kind, in clear (encrypted scores equal these within tolerance).
 *
 *   npx tsc -p . && node dist/bench/landmark-tune.js --music /work/data/ci --negatives /work/data/negatives \
 *     [--packages a,b] [--query-packages c,d] [--per-condition 100] [--seed 7] [--configs name,name|all] \
 *     [--workers 2] [--out file.jsonl] [--json '{"d":512,...}'] [--dump dir] [--write-catalog dir]
 *
 * Enrols every audio file under --music (or only the listed top-level packages), draws seeded queries
 * from the enrolled tracks (or only from --query-packages): 10 s clean, 10 s + white noise at 10 dB SNR,
 * 5 s at 0 dB, at random offsets (redrawn when RMS < −45 dBFS), ≥ --per-condition each, plus 10 s
 * excerpts of the never-enrolled --negatives. Per configuration: builds the segment templates, calibrates
 * the threshold on catalogue excerpts with their own track masked out, and prints top-1 (accepted and
 * right), wrong answers, negatives rejected, false rejects (10 s clean answered unknown), offset ±2 s, and
 * the server cost C·d·windows/s. Decoded + landmarked tracks and queries are cached under .cache/.
 * Queries also come at ±2 % and ±4 % speed. --dump writes each query's decision features per
 * configuration (JSONL); --write-catalog writes each configuration's catalogue, for `blindear eval --catalog`.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { decodeFile } from '../connectors/ffmpeg.js';
import { concatLandmarks, pairPeaks } from '../pipeline/dsp/landmarks.js';
import { resample22050To11025 } from '../pipeline/dsp/resample.js';
import { findPeaks, strongerPeaks, STFT_HOP, type Peaks } from '../pipeline/dsp/spectral-peaks.js';
import { hypothesisBucketers, hypothesisWindows, LANDMARK_INPUT_SAMPLE_RATE, type ClipLandmarks } from '../pipeline/features/landmark.js';
import { addWhiteNoise, calibrateThreshold, drawExcerpt, seededRandom, type ScoredExcerpt } from '../pipeline/model/calibrate.js';
import { changeSpeed } from '../pipeline/eval/distortions.js';
import { saveCatalog } from '../pipeline/model/catalog-store.js';
import { heParamsFor } from '../pipeline/model/enroll.js';
import { decideLandmarkVote } from '../pipeline/model/landmark-vote.js';
import { buildSegmentTemplatesFromLandmarks, scoreInClear, type CatalogueTrackLandmarks } from '../pipeline/model/segment-templates.js';
import { LandmarkParams, type LandmarkParamsInput } from '../schemas/feature-landmark.js';

const EXTS = ['.ogg', '.mp3', '.flac', '.wav', '.opus', '.oga', '.m4a'];
const CACHE_VERSION = 'lm-tune-v2-peaks';
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE_DIR = path.join(REPO, '.cache', 'landmark-tune');

/** Query conditions: [name, seconds, SNR dB or null, speed change in percent]. */
const CONDITIONS: readonly (readonly [string, number, number | null, number])[] = [
  ['10s clean', 10, null, 0],
  ['10s @10dB', 10, 10, 0],
  ['5s @0dB', 5, 0, 0],
  ['10s speed+2%', 10, null, 2],
  ['10s speed-2%', 10, null, -2],
  ['10s speed+4%', 10, null, 4],
  ['10s speed-4%', 10, null, -4],
];
const CALIB_SNRS = [null, 20, 10, 0] as const;
/** Catalogue framings cached (configurations use the first catalogueShifts of them, offsets hop·s/4). */
const MAX_SHIFTS = 4;

// ------------------------------------------------------------------ configurations
/** The front measured in the README table (`--configs all`); `--json` adds ad-hoc ones. */
const CONFIGS: Record<string, LandmarkParamsInput> = {
  'default: d1024 w15/h15 s20/10': {},
  'd512 w10/h10 s20/10': {d: 512, windowSeconds: 10, hopSeconds: 10},
  'grid512[16,8,4] w10/h10 s20/10': {d: 512, bucketMode: 'grid', grid: [16, 8, 4], windowSeconds: 10, hopSeconds: 10},
  'd1024 w10/h10 s20/10': {windowSeconds: 10, hopSeconds: 10},
  'd1024 w10/h10 s30/20': {windowSeconds: 10, hopSeconds: 10, segmentSeconds: 30, segmentHopSeconds: 20},
  'd2048 w10/h10 s30/20': {d: 2048, windowSeconds: 10, hopSeconds: 10, segmentSeconds: 30, segmentHopSeconds: 20},
  'd1024 w5/h5 s15/10': {windowSeconds: 5, hopSeconds: 5, segmentSeconds: 15},
  'd2048 w10/h10 s20/10': {d: 2048, windowSeconds: 10, hopSeconds: 10},
  'd4096 w10/h10 s20/10': {d: 4096, windowSeconds: 10, hopSeconds: 10},
  'probe fanout3 d1024 w1.5/h0.5 s7/5.5 box': {d: 1024, windowSeconds: 1.5, hopSeconds: 0.5, segmentSeconds: 7, segmentHopSeconds: 5.5, maxClasses: 8192, voteKernel: 'box', pairing: {fanout: 3}},
  'probe fanout1 d1024 w1.5/h0.5 s7/5.5 box': {d: 1024, windowSeconds: 1.5, hopSeconds: 0.5, segmentSeconds: 7, segmentHopSeconds: 5.5, maxClasses: 8192, voteKernel: 'box'},
  'probe fanout3 d4096 w1.5/h0.5 s7/5.5 box': {d: 4096, windowSeconds: 1.5, hopSeconds: 0.5, segmentSeconds: 7, segmentHopSeconds: 5.5, maxClasses: 8192, voteKernel: 'box', pairing: {fanout: 3}},
};

// ------------------------------------------------------------------ cache of decoded + landmarked audio
/** Peaks are cached (at the floor prominence), landmarks are paired per configuration: cheap. */
interface StoredClip {
  kind: 'cat' | 'cal' | 'q' | 'neg';
  cond: string;
  startSeconds: number;
  clipSeconds: number;
  /** STFT frame offset of this framing (catalogue shifts). */
  timeOffset: number;
  peaks: Peaks;
}
/** Peaks are extracted once with this delta; configurations may ask for any delta above it. */
const PEAK_FLOOR_NATS = 1.0;
interface TrackFile {
  durationSeconds: number;
  decodeMs: number;
  extractMs: number;
  clips: StoredClip[];
}

async function saveTrackFile(file: string, t: TrackFile): Promise<void> {
  const header = JSON.stringify({
    durationSeconds: t.durationSeconds, decodeMs: t.decodeMs, extractMs: t.extractMs,
    clips: t.clips.map((c) => ({ kind: c.kind, cond: c.cond, startSeconds: c.startSeconds, clipSeconds: c.clipSeconds, timeOffset: c.timeOffset, n: c.peaks.frame.length, frames: c.peaks.frames })),
  });
  const hb = Buffer.from(header, 'utf8');
  const pad = (4 - ((4 + hb.length) % 4)) % 4;
  const parts: Buffer[] = [Buffer.alloc(4), hb, Buffer.alloc(pad)];
  parts[0].writeUInt32LE(hb.length);
  for (const c of t.clips) {
    for (const a of [c.peaks.frame, c.peaks.bin, c.peaks.prominence]) parts.push(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  }
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file + '.tmp', Buffer.concat(parts));
  await rename(file + '.tmp', file);
}

async function loadTrackFile(file: string): Promise<TrackFile> {
  const buf = await readFile(file);
  const hl = buf.readUInt32LE(0);
  const h = JSON.parse(buf.subarray(4, 4 + hl).toString('utf8')) as {
    durationSeconds: number; decodeMs: number; extractMs: number;
    clips: { kind: StoredClip['kind']; cond: string; startSeconds: number; clipSeconds: number; timeOffset: number; n: number; frames: number }[];
  };
  let at = 4 + hl + ((4 - ((4 + hl) % 4)) % 4);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const clips = h.clips.map((c) => {
    const frame = new Int32Array(ab, at, c.n); at += 4 * c.n;
    const bin = new Int32Array(ab, at, c.n); at += 4 * c.n;
    const prominence = new Float32Array(ab, at, c.n); at += 4 * c.n;
    return { kind: c.kind, cond: c.cond, startSeconds: c.startSeconds, clipSeconds: c.clipSeconds, timeOffset: c.timeOffset, peaks: { frame, bin, prominence, frames: c.frames } };
  });
  return { durationSeconds: h.durationSeconds, decodeMs: h.decodeMs, extractMs: h.extractMs, clips };
}

/** What one job asks: decode a file, extract catalogue landmarks + calibration excerpts, or queries. */
interface Job {
  file: string;
  rel: string;
  role: 'catalogue' | 'queries' | 'negative';
  perCondition: number;
  seed: number;
  cacheFile: string;
}

function hashSeed(seed: number, s: string): number {
  return createHash('sha1').update(`${seed}|${s}`).digest().readUInt32LE(0);
}

async function runJob(job: Job): Promise<void> {
  const params = LandmarkParams.parse({});
  const floor = { ...params.peaks, deltaNats: PEAK_FLOOR_NATS };
  const t0 = performance.now();
  const pcm = await decodeFile(job.file, { sampleRate: LANDMARK_INPUT_SAMPLE_RATE });
  const t1 = performance.now();
  const durationSeconds = pcm.length / LANDMARK_INPUT_SAMPLE_RATE;
  const clips: StoredClip[] = [];
  const excerpt = (kind: StoredClip['kind'], cond: string, secs: number, snr: number | null, rand: () => number, speed = 0) => {
    const ex = drawExcerpt(pcm, LANDMARK_INPUT_SAMPLE_RATE, secs, rand);
    if (!ex) return;
    const noisy = snr === null ? ex.pcm : addWhiteNoise(ex.pcm, snr, rand);
    const x = speed === 0 ? noisy : changeSpeed(noisy, speed);
    const clipSeconds = x.length / LANDMARK_INPUT_SAMPLE_RATE;
    clips.push({ kind, cond, startSeconds: ex.startSeconds, clipSeconds, timeOffset: 0, peaks: findPeaks(resample22050To11025(x), floor) });
  };
  let extractMs = 0;
  if (job.role === 'catalogue') {
    const x = resample22050To11025(pcm);
    for (let sh = 0; sh < MAX_SHIFTS; sh++) {
      const o = Math.floor((sh * STFT_HOP) / MAX_SHIFTS);
      clips.push({ kind: 'cat', cond: `shift${sh}`, startSeconds: 0, clipSeconds: durationSeconds, timeOffset: o / STFT_HOP, peaks: findPeaks(x, floor, o) });
    }
    extractMs = performance.now() - t1;
    const rand = seededRandom(hashSeed(job.seed + 1000, job.rel));
    for (const secs of [10, 5]) excerpt('cal', `cal${secs}`, secs, CALIB_SNRS[Math.floor(rand() * CALIB_SNRS.length)], rand);
  } else if (job.role === 'queries') {
    const rand = seededRandom(hashSeed(job.seed, job.rel));
    const tq = performance.now();
    for (const [name, secs, snr, speed] of CONDITIONS) {
      // One generator per condition, so adding a condition leaves the others' excerpts as they were.
      const r = seededRandom(hashSeed(job.seed, `${job.rel}|${name}`));
      for (let i = 0; i < job.perCondition; i++) excerpt('q', name, secs, snr, name === '10s clean' ? rand : r, speed);
    }
    extractMs = performance.now() - tq;
  } else {
    const rand = seededRandom(hashSeed(job.seed + 2000, job.rel));
    for (let i = 0; i < job.perCondition; i++) excerpt('neg', 'negative 10s', 10, null, rand);
    extractMs = performance.now() - t1;
  }
  await saveTrackFile(job.cacheFile, { durationSeconds, decodeMs: t1 - t0, extractMs, clips });
}

if (!isMainThread) {
  parentPort!.on('message', (job: Job) => {
    runJob(job).then(() => parentPort!.postMessage({ ok: true }), (err: unknown) => parentPort!.postMessage({ ok: false, error: String(err) }));
  });
}

async function listAudio(root: string, packages?: string[]): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string) {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (EXTS.includes(path.extname(e.name).toLowerCase())) out.push(path.relative(root, p));
    }
  }
  await walk(root);
  return out.filter((r) => !packages || packages.includes(r.split(path.sep)[0])).sort();
}

async function cacheFileFor(file: string, role: Job['role'], perCondition: number, seed: number): Promise<string> {
  const st = await stat(file);
  const p = LandmarkParams.parse({});
  const conditions = role === 'queries' ? CONDITIONS : [];
  const key = JSON.stringify([CACHE_VERSION, path.resolve(file), st.size, st.mtimeMs, role, perCondition, seed, { ...p.peaks, deltaNats: PEAK_FLOOR_NATS }, MAX_SHIFTS, ...conditions]);
  return path.join(CACHE_DIR, createHash('sha1').update(key).digest('hex') + '.bin');
}

/** Runs jobs on worker threads (extraction is CPU-bound JS; ffmpeg runs beside). Failures are reported and skipped. */
async function runJobs(jobs: Job[], workers: number): Promise<Set<string>> {
  const failed = new Set<string>();
  const todo: Job[] = [];
  for (const j of jobs) {
    try { await stat(j.cacheFile); } catch { todo.push(j); }
  }
  if (todo.length === 0) return failed;
  process.stderr.write(`extracting ${todo.length} jobs on ${workers} workers\n`);
  let next = 0;
  let done = 0;
  await Promise.all(Array.from({ length: Math.min(workers, todo.length) }, async () => {
    const w = new Worker(fileURLToPath(import.meta.url));
    try {
      while (next < todo.length) {
        const job = todo[next++];
        const res = await new Promise<{ ok: boolean; error?: string }>((resolve) => {
          w.once('message', resolve);
          w.postMessage(job);
        });
        if (!res.ok) { failed.add(job.file); process.stderr.write(`skip ${job.rel}: ${res.error}\n`); }
        if (++done % 20 === 0) process.stderr.write(`  ${done}/${todo.length}\n`);
      }
    } finally {
      await w.terminate();
    }
  }));
  return failed;
}

// ------------------------------------------------------------------ evaluation
interface Query { track: number; cond: string; startSeconds: number; clip: StoredClip }
interface CatTrack { shifts: StoredClip[]; durationSeconds: number }

/** segment30: right track and the right 30 s segment of it (the one holding the excerpt's centre): #3's scale check. */
interface CondStats { n: number; correct: number; wrong: number; unknown: number; raw: number; offsetOk: number; segment30: number }

async function evaluate(out: { dumpFile?: string; catalogDir?: string; paths: string[] }, name: string, input: LandmarkParamsInput, catTracks: CatTrack[], calib: { track: number; clip: StoredClip }[], queries: Query[], negatives: Query[]) {
  // Queries are cached as one framing's peaks: the configurations are measured with one-framing queries.
  const p = LandmarkParams.parse({ ...input, queryShifts: 1 });
  if (p.peaks.deltaNats < PEAK_FLOOR_NATS) throw new Error(`deltaNats below the cached floor ${PEAK_FLOOR_NATS}`);
  const t0 = performance.now();
  const lm = (c: StoredClip) => pairPeaks(strongerPeaks(c.peaks, p.peaks.deltaNats), p.pairing, c.timeOffset);
  const catalogue: CatalogueTrackLandmarks[] = catTracks.map((t) => ({
    landmarks: concatLandmarks(t.shifts.slice(0, p.catalogueShifts).map(lm), t.shifts[0].peaks.frames),
    durationSeconds: t.durationSeconds,
    queryFraming: lm(t.shifts[0]),
  }));
  const lmPerSecond = catalogue.reduce((a, c) => a + c.landmarks.code.length, 0) / catalogue.reduce((a, c) => a + c.durationSeconds, 0);
  const tpl = buildSegmentTemplatesFromLandmarks(catalogue, p);

  const tBuild = performance.now() - t0;
  const buckets = hypothesisBucketers(p);
  const scoreClip = (c: StoredClip) => {
    const clip: ClipLandmarks = { landmarks: lm(c), durationSeconds: c.clipSeconds };
    // With speed hypotheses, each class's best score over them (as the client keeps after decryption).
    const w = hypothesisWindows(clip, p, tpl.idf, tpl.mean, buckets);
    return { starts: w.startSeconds, scores: scoreInClear(tpl.model, w) };
  };
  const scored: ScoredExcerpt[] = calib.map((c) => {
    const s = scoreClip(c.clip);
    return { scores: s.scores, windowStartSeconds: s.starts, clipSeconds: c.clip.clipSeconds, track: c.track };
  });
  const cal = calibrateThreshold(scored, tpl.segments, p, tpl.hub);
  const dump: object[] = [];
  /** Per-query features a client-side decision could use (for --dump). */
  const features = (scores: Float64Array[]) => {
    let top = -Infinity; let z = -Infinity;
    for (const s of scores) {
      let m = 0; let m2 = 0; let mx = -Infinity;
      for (const v of s) { m += v; m2 += v * v; if (v > mx) mx = v; }
      m /= s.length;
      const sd = Math.sqrt(Math.max(0, m2 / s.length - m * m)) + 1e-9;
      top = Math.max(top, mx); z = Math.max(z, (mx - m) / sd);
    }
    return { top, z };
  };
  const dumpFile = out.dumpFile;
  if (out.catalogDir) {
    // The catalogue enrolment would write from these tracks (same templates, same calibration code; the
    // calibration excerpts are the bench's own seeded draws), so `blindear eval --catalog` can skip enrolling.
    const finalParams = LandmarkParams.parse({ ...p, segmentSeconds: tpl.segmentSeconds, segmentHopSeconds: tpl.segmentHopSeconds, threshold: cal.threshold });
    await saveCatalog(out.catalogDir, {
      feature: { kind: 'landmark', params: finalParams, idf: Array.from(tpl.idf), ...(p.trackThresholdScale > 0 ? { trackThresholds: cal.trackThresholds } : {}) },
      he: heParamsFor('landmark', p.hopSeconds, p.d),
      tracks: out.paths.map((rel, i) => ({ path: rel, title: path.basename(rel, path.extname(rel)), durationSeconds: catTracks[i].durationSeconds })),
      classes: {
        track: tpl.segments.map((sg) => sg.track),
        startSeconds: tpl.segments.map((sg) => sg.startSeconds),
        endSeconds: tpl.segments.map((sg) => sg.endSeconds),
      },
      dim: p.d,
      skipped: [],
      enrolment: { seed: 7, calibration: cal, builtBy: 'bench/landmark-tune.ts from cached peaks' },
    }, tpl.model);
  }
  if (dumpFile) {
    const dupOf = new Map(cal.nearDuplicates.map((g) => [g[0], g.slice(1)]));
    for (const e of scored) {
      const ex = { clipSeconds: e.clipSeconds, hub: tpl.hub };
      const g = decideLandmarkVote(e.scores, e.windowStartSeconds, tpl.segments, { ...p, threshold: -Infinity }, ex);
      const i = decideLandmarkVote(e.scores, e.windowStartSeconds, tpl.segments, { ...p, threshold: -Infinity }, { ...ex, maskTracks: [e.track, ...(dupOf.get(e.track) ?? [])] });
      dump.push({ kind: 'gen', clip: e.clipSeconds, ok: g.bestTrack === e.track, conf: g.confidence, votes: g.ranking.map((r) => r.vote), ...features(e.scores as Float64Array[]) });
      dump.push({ kind: 'imp', clip: e.clipSeconds, ok: false, best: i.bestTrack, truth: e.track, conf: i.confidence, votes: i.ranking.map((r) => r.vote) });
    }
  }
  const pt = { ...p, threshold: cal.threshold };
  const stats = new Map<string, CondStats>();
  const confs = new Map<string, number[]>();
  let windows10 = 0;
  for (const q of [...queries, ...negatives]) {
    const s = scoreClip(q.clip);
    if (q.cond === '10s clean') windows10 = s.scores.length;
    const trackThresholds = p.trackThresholdScale > 0 ? cal.trackThresholds : undefined;
    const dec = decideLandmarkVote(s.scores, s.starts, tpl.segments, pt, { clipSeconds: q.clip.clipSeconds, hub: tpl.hub, trackThresholds });
    if (dumpFile) dump.push({ kind: q.track < 0 ? 'neg' : 'q', cond: q.cond, truth: q.track, best: dec.bestTrack, start: q.startSeconds, clip: q.clip.clipSeconds, ok: dec.bestTrack === q.track, conf: dec.confidence, votes: dec.ranking.map((r) => r.vote), lm: q.clip.peaks.frame.length, offErr: dec.offsetSeconds - q.startSeconds, ...features(s.scores) });
    const st = stats.get(q.cond) ?? { n: 0, correct: 0, wrong: 0, unknown: 0, raw: 0, offsetOk: 0, segment30: 0 };
    st.n++;
    if (dec.bestTrack === q.track || q.track < 0) confs.set(q.cond, [...(confs.get(q.cond) ?? []), dec.confidence]);
    if (dec.bestTrack === q.track) st.raw++;
    if (dec.track === null) st.unknown++;
    else if (dec.track === q.track) {
      st.correct++;
      if (Math.abs(dec.offsetSeconds - q.startSeconds) <= 2) st.offsetOk++;
      const centre = q.clip.clipSeconds / 2;
      if (Math.floor((dec.offsetSeconds + centre) / 30) === Math.floor((q.startSeconds + centre) / 30)) st.segment30++;
    } else st.wrong++;
    stats.set(q.cond, st);
  }
  const C = tpl.model.classes;
  const wps = 1 / p.hopSeconds;
  const pct = (a: number, b: number) => (b ? (100 * a) / b : NaN);
  const c10 = stats.get('10s clean')!;
  const n10 = stats.get('10s @10dB')!;
  const n5 = stats.get('5s @0dB')!;
  const neg = stats.get('negative 10s');
  if (dumpFile) await writeFile(dumpFile, dump.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const row = {
    name, lmPerSecond, C, d: p.d, segHop: tpl.segmentHopSeconds, wps, cost: C * p.d * wps, windows10,
    top1_10clean: pct(c10.correct, c10.n), top1_10dB: pct(n10.correct, n10.n), top1_5s0dB: pct(n5.correct, n5.n),
    raw_10clean: pct(c10.raw, c10.n), raw_10dB: pct(n10.raw, n10.n), raw_5s0dB: pct(n5.raw, n5.n),
    wrong: `${c10.wrong}/${n10.wrong}/${n5.wrong}`,
    negRejected: neg ? pct(neg.unknown, neg.n) : NaN, falseReject: pct(c10.unknown, c10.n),
    offset2s: pct(c10.offsetOk, c10.correct), offset2s_10dB: pct(n10.offsetOk, n10.correct), segment30_10dB: pct(n10.segment30, n10.n),
    threshold: cal.threshold, calib: { ...cal, worstImpostors: cal.worstImpostors.slice(0, 3) },
    genuineConf: [...confs].map(([k, v]) => {
      const a = v.sort((x, y) => x - y);
      const q = (f: number) => a[Math.floor(f * (a.length - 1))].toFixed(1);
      return `${k}: p10 ${q(0.1)} p50 ${q(0.5)} p90 ${q(0.9)}`;
    }).join('; '), buildMs: tBuild, evalMs: performance.now() - t0,
    n: { c10: c10.n, n10: n10.n, n5: n5.n, neg: neg?.n ?? 0 }, params: p,
    perCondition: Object.fromEntries([...stats].map(([k, v]) => [k, { n: v.n, top1: pct(v.correct, v.n), wrong: v.wrong, unknown: v.unknown, raw: pct(v.raw, v.n), offset2s: pct(v.offsetOk, v.correct) }])),
  };
  return row;
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main() {
  const argv = process.argv.slice(2);
  const music = arg(argv, 'music') ?? '/work/data/ci';
  const negDir = arg(argv, 'negatives');
  const packages = arg(argv, 'packages')?.split(',');
  const queryPackages = arg(argv, 'query-packages')?.split(',');
  const perCondition = Number(arg(argv, 'per-condition') ?? 100);
  const seed = Number(arg(argv, 'seed') ?? 7);
  const workers = Number(arg(argv, 'workers') ?? Math.max(1, cpus().length));
  const out = arg(argv, 'out');
  const configArg = arg(argv, 'configs') ?? (arg(argv, 'json') ? 'none' : 'all');
  const configs: [string, LandmarkParamsInput][] = configArg === 'none' ? [] : configArg === 'all' ? Object.entries(CONFIGS)
    : configArg.split(',').map((n) => {
      if (!CONFIGS[n]) throw new Error(`unknown config ${n}; known: ${Object.keys(CONFIGS).join(', ')}`);
      return [n, CONFIGS[n]];
    });
  const json = arg(argv, 'json');
  if (json) {
    // one object, or [[name, object], ...] for a sweep
    const parsed = JSON.parse(json) as LandmarkParamsInput | [string, LandmarkParamsInput][];
    if (Array.isArray(parsed)) configs.push(...parsed);
    else configs.push([arg(argv, 'name') ?? 'custom', parsed]);
  }

  const rels = await listAudio(music, packages);
  const qRels = rels.filter((r) => !queryPackages || queryPackages.includes(r.split(path.sep)[0]));
  const perTrack = Math.ceil(perCondition / Math.max(1, qRels.length));
  const negRels = negDir ? await listAudio(negDir) : [];
  const perNeg = Math.ceil(perCondition / Math.max(1, negRels.length));
  const jobs: Job[] = [];
  for (const rel of rels) {
    const file = path.join(music, rel);
    jobs.push({ file, rel, role: 'catalogue', perCondition: 0, seed, cacheFile: await cacheFileFor(file, 'catalogue', 0, seed) });
  }
  for (const rel of qRels) {
    const file = path.join(music, rel);
    jobs.push({ file, rel, role: 'queries', perCondition: perTrack, seed, cacheFile: await cacheFileFor(file, 'queries', perTrack, seed) });
  }
  for (const rel of negRels) {
    const file = path.join(negDir!, rel);
    jobs.push({ file, rel, role: 'negative', perCondition: perNeg, seed, cacheFile: await cacheFileFor(file, 'negative', perNeg, seed) });
  }
  const tx = performance.now();
  const failed = await runJobs(jobs, workers);
  const extractWall = performance.now() - tx;

  const catalogue: CatTrack[] = [];
  const calib: { track: number; clip: StoredClip }[] = [];
  const queries: Query[] = [];
  const negatives: Query[] = [];
  const trackOf = new Map<string, number>();
  const names: string[] = [];
  let audio = 0; let decodeMs = 0; let catMs = 0; let qMs = 0;
  for (const j of jobs) {
    if (failed.has(j.file)) continue;
    const tf = await loadTrackFile(j.cacheFile);
    if (j.role === 'catalogue') {
      const ti = catalogue.length;
      trackOf.set(j.rel, ti);
      names.push(j.rel);
      audio += tf.durationSeconds; decodeMs += tf.decodeMs; catMs += tf.extractMs;
      catalogue.push({ shifts: tf.clips.filter((c) => c.kind === 'cat'), durationSeconds: tf.durationSeconds });
      for (const c of tf.clips) if (c.kind === 'cal') calib.push({ track: ti, clip: c });
    } else {
      const ti = j.role === 'negative' ? -1 : trackOf.get(j.rel);
      if (ti === undefined) continue;
      for (const c of tf.clips) {
        (j.role === 'negative' ? negatives : queries).push({ track: ti, cond: c.cond, startSeconds: c.startSeconds, clip: c });
      }
      if (j.role === 'queries') qMs += tf.extractMs;
    }
  }
  const qAudioGenuine = queries.reduce((a, q) => a + q.clip.clipSeconds, 0);
  console.log(`# music=${music} packages=${packages?.join(',') ?? 'all'} query-packages=${queryPackages?.join(',') ?? 'all'} seed=${seed}`);
  console.log(`# tracks=${catalogue.length} (${(audio / 3600).toFixed(2)} h) queries=${queries.length} negatives=${negatives.length} calib=${calib.length} failed=${failed.size} extraction wall ${(extractWall / 1000).toFixed(1)} s`);
  if (catMs > 0) console.log(`# catalogue peaks (4 framings) ${(audio / (catMs / 1000)).toFixed(0)}x RT per core, decode ${(audio / (decodeMs / 1000)).toFixed(0)}x RT; query peaks ${qMs > 0 ? (qAudioGenuine / (qMs / 1000)).toFixed(0) : '?'}x RT (incl. noise)`);
  const head = ['config', 'lm/s cat', 'C', 'd', 'segHop', 'win/s', 'C·d·win/s', 'win/10s', '10s clean', '10s@10dB', '5s@0dB', 'wrong (c/10dB/0dB)', 'neg rej', 'false rej', 'off±2s', '30s seg@10dB', 'thr', 'raw top1 (c/10dB/0dB)'];
  console.log(head.join(' | '));
  for (const [name, cfg] of configs) {
    const dumpDir = arg(argv, 'dump');
    const catDir = arg(argv, 'write-catalog');
    const r = await evaluate({
      dumpFile: dumpDir ? path.join(dumpDir, `${name.replace(/[^\w.+-]+/g, '_')}.jsonl`) : undefined,
      catalogDir: catDir ? path.join(catDir, name.replace(/[^\w.+-]+/g, '_')) : undefined,
      paths: names,
    }, name, cfg, catalogue, calib, queries, negatives);
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
    console.log([name, r.lmPerSecond.toFixed(0), r.C, r.d, r.segHop, r.wps.toFixed(2), r.cost.toExponential(2), r.windows10, f(r.top1_10clean), f(r.top1_10dB), f(r.top1_5s0dB), r.wrong, f(r.negRejected), f(r.falseReject), f(r.offset2s), f(r.segment30_10dB), r.threshold.toFixed(3), `${f(r.raw_10clean)}/${f(r.raw_10dB)}/${f(r.raw_5s0dB)}`].join(' | '));
    console.log(`#   ${Object.entries(r.perCondition).map(([k, v]) => `${k}: ${f(v.top1)}% (${v.wrong} wrong, raw ${f(v.raw)}%)`).join('; ')}`);
    if (argv.includes('--impostors')) {
      for (const w of r.calib.worstImpostors) console.log(`#   impostor ${w.confidence.toFixed(2)}: ${names[w.track]} (${calib[w.excerpt].clip.cond}, ${calib[w.excerpt].clip.peaks.frame.length} peaks) mistaken for ${names[w.mistakenFor]}`);
      console.log(`#   genuine confidences (calib, correct): ${r.genuineConf}`);
    }
    if (out) await writeFile(out, JSON.stringify({ ...r, music, packages, queryPackages, seed, at: new Date().toISOString() }) + '\n', { flag: 'a' });
  }
}

if (isMainThread) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
