/**
 * The recognition-quality evaluation (DESIGN.md §5), as a function the CLI and the tests call: enrol
 * (or open) a catalogue, draw seeded query excerpts from its tracks while each track is decoded, distort
 * them per condition, identify each through the encrypted path and the clear-text scorer on a pool of
 * worker threads, and summarise. Never-enrolled tracks are split in two disjoint halves: babble sources
 * and excerpts that must come out unknown.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CatalogManifest } from '../../schemas/catalog.js';
import { EVAL_REPORT_FORMAT, EvalReport, type EvalCondition, type EvalQuery } from '../../schemas/eval.js';
import { codecUnavailableReason } from '../../connectors/transcode.js';
import { speechUnavailableReason, synthesiseSpeech } from '../../connectors/speech.js';
import { BlindearError } from '../errors.js';
import { createExtractor } from '../features/registry.js';
import { loadManifest } from '../model/catalog-store.js';
import { drawExcerpt, seededRandom } from '../model/calibrate.js';
import { enrollCatalog, listAudioInputs, type FeatureKindName } from '../model/enroll.js';
import type { Logger } from '../runtime/logger.js';
import { distort } from './apply-condition.js';
import { BABBLE_VOICES, BabblePool } from './babble.js';
import { excerptLengths, NEGATIVE_SECONDS, NEGATIVES_CONDITION } from './conditions.js';
import { decodeEach } from './decode-each.js';
import { createProgress, type Progress } from './progress.js';
import { QueryPool } from './query-pool.js';
import {
  babbleSourceSeedLabel, dealSlots, deriveSeed, distortionSeedLabel, excerptSeedLabel, negativeSeedLabel, splitNegatives, type Slot,
} from './query-plan.js';
import { SpeechPool } from './speech.js';
import { summarise } from './tally.js';

export interface EvalOptions {
  musicDir: string;
  negativesDir: string;
  /** Draw queries only from these top-level folders of the music dir (held-out packages). */
  queryPackages?: readonly string[];
  perCondition: number;
  negativesCount: number;
  seed: number;
  conditions: readonly EvalCondition[];
  /** An existing catalogue enrolled from musicDir; without it, the run enrols one into `enrolInto`. */
  catalogDir?: string;
  /** Where to write the catalogue the run enrols (kept, so a later run can pass it as catalogDir). */
  enrolInto?: string;
  enrol?: { kind: FeatureKindName; params: Record<string, unknown>; he: Record<string, unknown> };
  outDir: string;
  workers: number;
  logger: Logger;
  /** Progress on stderr: a bar on a TTY, lines otherwise; false for none. */
  progress?: boolean;
}

/** A query's place in the report's ordering: conditions in the order asked, then slot index. */
interface Placed {
  order: number;
  index: number;
  query: EvalQuery;
}

const NO_PROGRESS: Progress = { increment() {}, addTotal() {}, stop() {} };

async function requireDir(dir: string, what: string): Promise<void> {
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new BlindearError('BLINDEAR_ERR_INPUT_NOT_FOUND', `${what} ${dir} is not a folder`);
}

async function openCatalogue(opts: EvalOptions): Promise<{ manifest: CatalogManifest; dir: string; enrolSeconds: number | null }> {
  if (opts.catalogDir) return { manifest: await loadManifest(opts.catalogDir), dir: opts.catalogDir, enrolSeconds: null };
  const dir = opts.enrolInto ?? join(opts.outDir, 'catalog');
  const enrol = opts.enrol ?? { kind: 'landmark' as const, params: {}, he: {} };
  opts.logger.info({ musicDir: opts.musicDir, catalog: dir, kind: enrol.kind }, 'enrolling the catalogue');
  const t0 = performance.now();
  const manifest = await enrollCatalog({ inputs: [opts.musicDir], catalogDir: dir, kind: enrol.kind, params: enrol.params, he: enrol.he, seed: opts.seed, logger: opts.logger });
  return { manifest, dir, enrolSeconds: (performance.now() - t0) / 1000 };
}

const topFolder = (path: string): string => path.split(/[\\/]/)[0];

/** Catalogue tracks queries are drawn from: all, or those under the held-out packages. */
function queryTracks(manifest: CatalogManifest, packages: readonly string[] | undefined): number[] {
  const all = manifest.tracks.map((_, i) => i);
  if (!packages) return all;
  const known = new Set(manifest.tracks.map((t) => topFolder(t.path)));
  const missing = packages.filter((p) => !known.has(p));
  if (missing.length) {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `--query-packages ${missing.join(', ')}: not in the catalogue (it has ${[...known].sort().join(', ')})`);
  }
  return all.filter((i) => packages.includes(topFolder(manifest.tracks[i].path)));
}

/** Conditions this machine can run, and why the others cannot (before any audio is decoded). */
async function runnable(conditions: readonly EvalCondition[]): Promise<{ ok: EvalCondition[]; unavailable: { condition: string; reason: string }[] }> {
  const ok: EvalCondition[] = [];
  const unavailable: { condition: string; reason: string }[] = [];
  for (const c of conditions) {
    const d = c.distortion;
    const codec = d.kind === 'codec' ? d.codec : d.kind === 'telephone' ? 'mulaw' : null;
    const reason = codec ? await codecUnavailableReason(codec) : d.kind === 'speech' ? await speechUnavailableReason() : null;
    if (reason) unavailable.push({ condition: c.name, reason });
    else ok.push(c);
  }
  return { ok, unavailable };
}

export async function runEvaluation(opts: EvalOptions): Promise<EvalReport> {
  const started = performance.now();
  const log = opts.logger;
  await requireDir(opts.musicDir, 'music');
  await requireDir(opts.negativesDir, 'negatives');
  if (opts.conditions.length === 0) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', 'no conditions to evaluate');
  // A mistyped package must stop the run before a long enrolment, not after it.
  for (const p of opts.queryPackages ?? []) await requireDir(join(opts.musicDir, p), '--query-packages folder');
  const rand = (label: string) => seededRandom(deriveSeed(opts.seed, label));

  const cat = await openCatalogue(opts);
  const manifest = cat.manifest;
  const sampleRate = createExtractor(manifest).sampleRate;
  const tracksForQueries = queryTracks(manifest, opts.queryPackages);
  const trackIndex = new Map(manifest.tracks.map((t, i) => [t.path, i]));
  const skipped: { path: string; reason: string }[] = [];
  const skip = (path: string, reason: string): void => {
    skipped.push({ path, reason });
    log.warn({ path }, `skipped: ${reason}`);
  };

  const negatives = await listAudioInputs([opts.negativesDir]);
  const split = splitNegatives(negatives.map((n) => n.path), rand('negatives/split'));
  const negByPath = new Map(negatives.map((n) => [n.path, n]));

  let { ok: conditions, unavailable } = await runnable(opts.conditions);
  const pool = await QueryPool.start(cat.dir, opts.workers);
  try {
    // Babble sources first: every babble query needs the whole pool.
    const babbleConditions = conditions.filter((c) => c.distortion.kind === 'babble');
    let babble: BabblePool | undefined;
    if (babbleConditions.length > 0) {
      babble = new BabblePool(Math.max(...babbleConditions.map((c) => c.seconds)), sampleRate);
      const b = babble;
      await decodeEach(split.babble.map((p) => negByPath.get(p)!), { sampleRate, lanes: 2, onSkip: (j, r) => skip(j.path, r) }, async (j, pcm) => {
        b.addTrack(j.path, pcm, rand(babbleSourceSeedLabel(j.path)));
      });
      if (!babble.ready()) {
        const reason = `babble needs ${BABBLE_VOICES} decodable never-enrolled tracks, the babble half of ${opts.negativesDir} has ${babble.tracks.length}`;
        unavailable = [...unavailable, ...babbleConditions.map((c) => ({ condition: c.name, reason }))];
        conditions = conditions.filter((c) => c.distortion.kind !== 'babble');
        babble = undefined;
      }
    }

    // Speech: the voice tracks are synthesised once per run (a few seconds of espeak-ng).
    let speech: SpeechPool | undefined;
    if (conditions.some((c) => c.distortion.kind === 'speech')) {
      speech = await SpeechPool.create(sampleRate, (text, v) => synthesiseSpeech(text, { ...v, sampleRate }));
    }

    const lengths = excerptLengths(conditions);
    const queryPaths = tracksForQueries.map((i) => manifest.tracks[i].path);
    const slots = dealSlots(queryPaths, lengths, opts.perCondition, rand);
    const negSlots = dealSlots(split.queries, [NEGATIVE_SECONDS], opts.negativesCount, (l) => rand(`negatives/${l}`));
    const byLength = new Map(lengths.map((s) => [s, conditions.filter((c) => c.seconds === s)]));
    const order = new Map(conditions.map((c, i) => [c.name, i]));
    const progress = opts.progress === false ? NO_PROGRESS : createProgress({
      label: 'eval',
      total: conditions.length * opts.perCondition + opts.negativesCount,
    });
    const placed: Placed[] = [];
    let undrawn = 0;

    const identify = async (condition: string, slot: Slot, source: string, truth: number | null, startSeconds: number, pcm: Float32Array): Promise<void> => {
      try {
        const o = await pool.identify(pcm);
        placed.push({ order: order.get(condition) ?? conditions.length, index: slot.index, query: { condition, truth, source, startSeconds: Number(startSeconds.toFixed(3)), ...o, serverMs: Number(o.serverMs.toFixed(1)) } });
      } catch (err) {
        skip(`${source} @ ${startSeconds.toFixed(1)} s, ${condition}`, err instanceof Error ? err.message : String(err));
      } finally {
        progress.increment();
      }
    };

    try {
      // Only tracks dealt a slot are decoded (few queries over many tracks leave some without).
      const trackJobs = queryPaths.filter((p) => slots.get(p)!.length > 0).map((path) => ({ file: join(opts.musicDir, path), path }));
      await decodeEach(trackJobs, {
        sampleRate,
        lanes: pool.size + 1,
        onSkip: (j, r) => {
          skip(j.path, r);
          for (const s of slots.get(j.path) ?? []) progress.increment(byLength.get(s.seconds)!.length);
        },
      }, async (job, pcm) => {
        const truth = trackIndex.get(job.path)!;
        // Draw every excerpt of the track first, so its PCM can go before the queries wait for workers.
        const drawn = (slots.get(job.path) ?? []).map((slot) => ({ slot, ex: drawExcerpt(pcm, sampleRate, slot.seconds, rand(excerptSeedLabel(slot))) }));
        const pending: Promise<void>[] = [];
        for (const { slot, ex } of drawn) {
          const conds = byLength.get(slot.seconds)!;
          if (!ex) { undrawn += conds.length; progress.increment(conds.length); continue; }
          for (const c of conds) {
            let q: Float32Array;
            try {
              q = await distort(ex.pcm, c.distortion, { sampleRate, rand: rand(distortionSeedLabel(c.name, slot)), babble, speech });
            } catch (err) {
              // e.g. a codec round trip ffmpeg refused: that query is reported, the run goes on.
              skip(`${job.path} @ ${ex.startSeconds.toFixed(1)} s, ${c.name}`, err instanceof Error ? err.message : String(err));
              progress.increment();
              continue;
            }
            await pool.capacity();
            pending.push(identify(c.name, slot, job.path, truth, ex.startSeconds, q));
          }
        }
        await Promise.all(pending);
      });

      const negJobs = split.queries.filter((p) => negSlots.get(p)!.length > 0).map((p) => ({ file: negByPath.get(p)!.file, path: p }));
      await decodeEach(negJobs, {
        sampleRate,
        lanes: pool.size + 1,
        onSkip: (j, r) => { skip(j.path, r); progress.increment(negSlots.get(j.path)?.length ?? 0); },
      }, async (job, pcm) => {
        const pending: Promise<void>[] = [];
        for (const slot of negSlots.get(job.path) ?? []) {
          const ex = drawExcerpt(pcm, sampleRate, NEGATIVE_SECONDS, rand(negativeSeedLabel(slot.index)));
          if (!ex) { undrawn++; progress.increment(); continue; }
          await pool.capacity();
          pending.push(identify(NEGATIVES_CONDITION, slot, job.path, null, ex.startSeconds, ex.pcm));
        }
        await Promise.all(pending);
      });
    } finally {
      progress.stop();
    }

    placed.sort((a, b) => a.order - b.order || a.index - b.index || a.query.source.localeCompare(b.query.source));
    const queries = placed.map((p) => p.query);
    const hasOffsets = manifest.feature.kind === 'landmark';
    const of = (name: string) => queries.filter((q) => q.condition === name);
    const serverMs = queries.map((q) => q.serverMs);
    const feature = manifest.feature;
    const enrolSeed = typeof manifest.enrolment.seed === 'number' ? manifest.enrolment.seed : null;
    return EvalReport.parse({
      format: EVAL_REPORT_FORMAT,
      version: 1,
      createdAt: new Date().toISOString(),
      seeds: { queries: opts.seed, enrolment: enrolSeed },
      musicDir: opts.musicDir,
      negativesDir: opts.negativesDir,
      querySource: { packages: opts.queryPackages ? [...opts.queryPackages] : null, tracks: tracksForQueries.length },
      catalogue: {
        dir: cat.dir,
        enrolledHere: cat.enrolSeconds !== null,
        enrolSeconds: cat.enrolSeconds,
        modelId: manifest.modelId,
        kind: feature.kind,
        tracks: manifest.tracks.length,
        classes: manifest.classes.track.length,
        dim: manifest.dim,
        he: manifest.he,
        scheme: manifest.scheme,
        ...(manifest.lwe ? { lwe: manifest.lwe } : {}),
        threshold: feature.kind === 'landmark'
          ? { name: 'confidence', value: feature.params.threshold }
          : { name: 'minVoteShare', value: feature.params.minVoteShare },
        params: { ...feature.params },
      },
      negatives: {
        queryTracks: split.queries,
        babbleTracks: babble ? babble.tracks : split.babble,
        babbleVoices: BABBLE_VOICES,
        summary: summarise(NEGATIVES_CONDITION, NEGATIVE_SECONDS, of(NEGATIVES_CONDITION), hasOffsets),
      },
      conditions: conditions.map((c) => summarise(c.name, c.seconds, of(c.name), hasOffsets)),
      unavailable,
      skipped: [...manifest.skipped, ...skipped],
      undrawn,
      timing: {
        wallSeconds: (performance.now() - started) / 1000,
        workers: pool.size,
        queries: queries.length,
        meanServerMs: serverMs.length ? serverMs.reduce((a, v) => a + v, 0) / serverMs.length : null,
      },
      queries,
    });
  } finally {
    await pool.close();
  }
}
