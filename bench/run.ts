/**
 * The bench runner (`npm run bench`): every figure in one run, on this machine, written to
 * bench/results/report.json and report.md, and the Markdown printed on stdout (progress on stderr).
 *
 *   npx tsc -p . && node dist/bench/run.js [--quick] [--only scoring,lwe,shards,kafka-shards,threads,position,client,kafka,monitor] [--stations n] [--minutes m] [--instances 1,2] [--scheme lwe|ckks] [--kafka-shard-classes C] [--kafka-shards n] [--kafka-shard-build whole|by-shard] [--music <dir>] [--out <dir>]
 *
 * --quick (CI: a couple of minutes) runs fewer classes, fewer repetitions, two short sessions; it checks
 * that every scenario still runs and asserts nothing about speed. Without it: the full set.
 * Scenarios: scoring-cost.ts (1), client-cost.ts (2), kafka-throughput.ts (3), monitor-load.ts (4),
 * scoring-threads.ts (5), lwe-scoring.ts (6), lwe-shards.ts (7), kafka-shards.ts (8).
 * --front runs the quality / server cost front instead (bench/front.ts, writes front.{json,md,svg}).
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { listAudioInputs } from '../pipeline/model/enroll.js';
import { heParamsFor } from '../pipeline/model/enroll.js';
import { runClientCost } from './client-cost.js';
import { runFront } from './front.js';
import { runKafkaThroughput } from './kafka-throughput.js';
import { runMonitorLoad } from './monitor-load.js';
import { featureShapes, runScoringCost } from './scoring-cost.js';
import { runScoringThreads, type ThreadsCase } from './scoring-threads.js';
import { runPositionCost } from './position-cost.js';
import { lweShapes, runLweScoring } from './lwe-scoring.js';
import { runLweShards } from './lwe-shards.js';
import { runKafkaShards } from './kafka-shards.js';
import { cleanupAll, loadAverage, machine, now, REPO, round, writeReport } from './util.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const quick = process.argv.includes('--quick');
const only = (arg('only') ?? 'scoring,lwe,shards,kafka-shards,threads,position,client,kafka,monitor').split(',');
const outDir = arg('out') ?? join(REPO, 'bench', 'results');
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

const MODE = quick
  ? { kafkaShardClasses: 20_000, shardClasses: 20_000, lweClasses: [1000, 2040], threads: [{ scheme: 'ckks', C: 1000, perSession: 3 }, { scheme: 'lwe', C: 20_000, perSession: 10 }] as ThreadsCase[], classes: [100, 1000], reps: 3, clientSeconds: 60, decodeReps: 1, tracksPerPackage: 1, sessions: 2, excerptSeconds: 45, realtimeSessions: 1, realtimeSeconds: 20 }
  : { kafkaShardClasses: 100_000, shardClasses: 1_000_000, lweClasses: [100, 1000, 2040, 10_000, 100_000], threads: [{ scheme: 'ckks', C: 2040, perSession: 12 }, { scheme: 'lwe', C: 10_000, perSession: 250 }, { scheme: 'lwe', C: 100_000, perSession: 25 }] as ThreadsCase[], classes: [100, 1000, 10_000], reps: 5, clientSeconds: undefined, decodeReps: 3, tracksPerPackage: 2, sessions: 6, excerptSeconds: 120, realtimeSessions: 8, realtimeSeconds: 120 };

/** The ci music: --music, $BLINDEAR_MUSIC_DIR, .cache/music/ci, or /work/data/ci. */
function musicDir(): string {
  const dirs = [arg('music'), process.env.BLINDEAR_MUSIC_DIR, join(REPO, '.cache', 'music', 'ci'), '/work/data/ci'];
  const dir = dirs.find((d): d is string => !!d && existsSync(d));
  if (!dir) throw new Error('no music: run `bash infra/music.sh ci` or pass --music <dir>');
  return dir;
}

/** The largest files (longest tracks, for excerpts) of each top-level package, taken in turn across packages. */
async function pickTracks(dir: string, perPackage: number): Promise<string[]> {
  const byPackage = new Map<string, { file: string; bytes: number }[]>();
  for (const input of await listAudioInputs([dir])) {
    const pkg = input.path.split('/')[0];
    byPackage.set(pkg, [...(byPackage.get(pkg) ?? []), { file: input.file, bytes: (await stat(input.file)).size }]);
  }
  const lists = [...byPackage.values()].map((l) => l.sort((a, b) => b.bytes - a.bytes));
  const out: string[] = [];
  for (let i = 0; i < perPackage; i++) for (const l of lists) if (l[i]) out.push(l[i].file);
  return out;
}

async function main(): Promise<void> {
  // --front: the quality / server cost front instead (bench/front.ts, its own options and report files).
  if (process.argv.includes('--front')) return runFront(log);
  const started = new Date();
  const loadBefore = loadAverage();
  const tracks = await pickTracks(musicDir(), MODE.tracksPerPackage);
  // Every row runs under its kind's enrolment parameters (heParamsFor in pipeline/model/enroll.ts).
  const params = Object.fromEntries(featureShapes().map((s) => [s.label ?? s.name, s.he ?? heParamsFor(s.name, s.hopSeconds, s.d)]));
  const balanced = new Set(featureShapes().filter((s) => s.balancedScales).map((s) => s.label ?? s.name));
  const sections: string[] = [];
  const json: Record<string, unknown> = { mode: quick ? 'quick' : 'full', startedAt: started.toISOString(), machine: machine(), heParams: params, loadavgBefore: loadBefore };
  const scenario = async <T extends { markdown: string }>(name: string, run: () => Promise<T>): Promise<void> => {
    if (!only.includes(name)) return;
    const before = loadAverage();
    const t = now();
    const r = await run();
    const { markdown, ...rest } = r;
    json[name] = { ...rest, seconds: round((now() - t) / 1000, 1), loadavgBefore: before, loadavgAfter: loadAverage() };
    sections.push(`${markdown}\n\n_${round((now() - t) / 1000, 0)} s; load average ${before.join(' ')} → ${loadAverage().join(' ')}_`);
  };

  await scenario('scoring', () => runScoringCost({ classes: MODE.classes, reps: MODE.reps, log }));
  await scenario('lwe', () => runLweScoring({ shapes: lweShapes(MODE.lweClasses, MODE.classes, !quick), jsUpTo: 10_000, batch: 8, reps: MODE.reps * 2, log }));
  await scenario('shards', () => runLweShards({ C: MODE.shardClasses, shards: 2, d: 2048, queries: 8, batch: 8, log }));
  await scenario('kafka-shards', () => runKafkaShards({ C: Number(arg('kafka-shard-classes') ?? MODE.kafkaShardClasses), shards: Number(arg('kafka-shards') ?? 2), build: arg('kafka-shard-build') === 'by-shard' ? 'by-shard' : 'whole', d: 2048, queries: quick ? 8 : 32, log }));
  await scenario('threads', () => runScoringThreads({ cases: MODE.threads, threads: [0, 1, 2], sessions: 4, log }));
  await scenario('position', () => runPositionCost({ classes: quick ? [2040] : [2040, 10_000], log }));
  await scenario('client', () => runClientCost({ track: tracks[0], maxSeconds: MODE.clientSeconds, C: 1000, decodeReps: MODE.decodeReps, log }));
  await scenario('kafka', async () => {
    const { result, markdown } = await runKafkaThroughput({ tracks, sessions: MODE.sessions, excerptSeconds: MODE.excerptSeconds, realtimeSessions: MODE.realtimeSessions, realtimeSeconds: MODE.realtimeSeconds, log });
    return { ...result, markdown };
  });

  await scenario('monitor', async () => {
    const { json: result, markdown } = await runMonitorLoad({
      tracks, stations: Number(arg('stations') ?? (quick ? 3 : 50)), minutes: Number(arg('minutes') ?? (quick ? 1.5 : 10)),
      instances: (arg('instances') ?? (quick ? '1' : '1,2')).split(',').map(Number), partitions: quick ? 2 : 4,
      scheme: arg('scheme') === 'ckks' ? 'ckks' : 'lwe', log,
    });
    return { ...(result as object), markdown };
  });

  json.loadavgAfter = loadAverage();
  json.seconds = round((Date.now() - started.getTime()) / 1000, 0);
  const m = json.machine as Record<string, unknown>;
  const header = [
    `# blindear bench (${quick ? 'quick' : 'full'} mode), ${started.toISOString()}`,
    '',
    `Machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB; Node ${m.node}, node-seal ${m.nodeSeal}, kafkajs ${m.kafkajs}. ` +
      `HE: CKKS, 128-bit; ${Object.entries(params).map(([k, p]) => `${k}: N=${p.polyModulusDegree}, q=[${p.coeffModulusBits.join(',')}], ${balanced.has(k) ? `inputs × weights 2^${p.scaleBits + p.weightScaleBits}, split per model (meanQueryScales)` : `inputs 2^${p.scaleBits}, weights 2^${p.weightScaleBits}`}, ≤ ${p.maxWindowsPerCiphertext} windows per query`).join('; ')}. ` +
      `Load average (1/5/15 min) ${loadBefore.join(' ')} before, ${(json.loadavgAfter as number[]).join(' ')} after; ${json.seconds} s in all.`,
  ].join('\n');
  const markdown = `${[header, ...sections].join('\n\n')}\n`;
  await writeReport(outDir, json, markdown);
  process.stdout.write(markdown);
}

let signalled = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (signalled) process.exit(130); // a second signal: leave now
    signalled = true;
    log(`${sig}: stopping what the bench started`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

main()
  .catch(async (err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanupAll();
    // kafkajs and SEAL may keep handles open: the report is written, leave.
    process.exit();
  });
