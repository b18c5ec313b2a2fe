/**
 * Scenario 3: the deployed pipeline through a real Kafka broker. Starts a broker (infra/kafka.sh) on a
 * free loopback port, enrols a small landmark catalogue of ci tracks (cached in the OS temp dir), then
 * for 1 and then 2 `blindear worker scorer` processes runs N concurrent `blindear stream` sessions on
 * WAV excerpts (decoded faster than real time, so the workers stay busy) and measures:
 *
 * - audio seconds scored per wall second per worker, between the first and the last query scored (from
 *   the workers' blindear_fhe_evaluation_seconds_count sampled every 250 ms), and the workers' FHE-busy
 *   share over that interval; audio seconds per worker CPU second (process_cpu_seconds_total);
 * - the 1 → 2 worker scaling ratio, twice: with the clients running beside the workers (live), and on a
 *   backlog of queries the clients queued before the workers started, the clients then stopped (the
 *   workers alone on the cores with the broker);
 * - window → prediction latency percentiles (the predictions' latencyMs): under that load, and then for
 *   sessions paced at real time (`--realtime`) against the two workers;
 * - bytes on the wire per audio second (blindear_ciphertext_bytes_total of the workers) and key bytes
 *   per session (ClientSession.publicMaterial of the catalogue's shape);
 * - each worker's resident memory, sampled, to show whether it stays flat.
 *
 * Everything started here is stopped in `finally` (and by the runner's cleanup on a signal).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import kafkajs from 'kafkajs';
import { decodeFile } from '../connectors/ffmpeg.js';
import { writeWav } from '../connectors/wav.js';
import { PIPELINE_SAMPLE_RATE } from '../pipeline/features/registry.js';
import { ClientSession } from '../pipeline/he/client/index.js';
import { enrollCatalog } from '../pipeline/model/enroll.js';
import { createLogger } from '../pipeline/runtime/logger.js';
import type { CatalogManifest } from '../schemas/catalog.js';
import { Prediction } from '../schemas/messages.js';
import { TOPICS } from '../schemas/topics.js';
import { freeLoopbackPort, mdTable, metric, now, onCleanup, percentile, round, runKafkaSh, runToEnd, scrape, sleep, startCli, waitFor, type Child } from './util.js';

const { Kafka, Partitioners, logLevel } = kafkajs;
const PARTITIONS = 2;
const SCORER_GROUP = 'blindear-scorer';

export interface KafkaOptions {
  /** Audio files to enrol; sessions stream excerpts of them (in turn). */
  tracks: string[];
  sessions: number;
  excerptSeconds: number;
  realtimeSessions: number;
  realtimeSeconds: number;
  log: (s: string) => void;
}

// ------------------------------------------------------------------ infrastructure

/** Starts a fresh broker in a temp dir; returns its address and a stop function (also registered for cleanup). */
export async function startBroker(): Promise<{ address: string; stop: () => Promise<void> }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freeLoopbackPort();
    const dir = await mkdtemp(join(tmpdir(), 'blindear-bench-kafka-'));
    const started = await runKafkaSh(['start', '--port', String(port), '--dir', dir]);
    if (started.code === 0) {
      const stop = onCleanup(async () => {
        const stopped = await runKafkaSh(['stop', '--port', String(port), '--dir', dir]);
        if (stopped.code !== 0) throw new Error(`kafka.sh stop: ${stopped.stderr}`);
        await rm(dir, { recursive: true, force: true });
      });
      return { address: started.stdout.trim(), stop };
    }
    await rm(dir, { recursive: true, force: true });
    if (attempt >= 3 || !/already in use/.test(started.stderr)) throw new Error(`kafka.sh start exited with ${started.code}: ${started.stderr}`);
  }
}

/** The landmark catalogue of `tracks`, enrolled afresh each run (so it always reflects the current enrolment code). */
export async function benchCatalog(tracks: string[], log: (s: string) => void, scheme: 'ckks' | 'lwe' = 'ckks'): Promise<{ dir: string; manifest: CatalogManifest; enrolMs: number | null }> {
  const dir = join(await mkdtemp(join(tmpdir(), 'blindear-bench-catalog-')), 'catalog');
  log(`enrolling ${tracks.length} tracks into ${dir} (scheme ${scheme}) ...`);
  const t = now();
  const manifest = await enrollCatalog({ inputs: tracks, catalogDir: dir, kind: 'landmark', scheme, logger: createLogger('warn') });
  return { dir, manifest, enrolMs: now() - t };
}

/** `n` session ids spread evenly over the topic's partitions by kafkajs' default partitioner. */
function balancedSessions(prefix: string, n: number): string[] {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: PARTITIONS }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  const partitionOf = (key: string) => partitioner({ topic: TOPICS.queries.name, partitionMetadata, message: { key, value: null } });
  const out: string[] = [];
  for (let j = 0; out.length < n; j++) {
    const id = `${prefix}-${j}`;
    if (partitionOf(id) === out.length % PARTITIONS) out.push(id);
  }
  return out;
}

// ------------------------------------------------------------------ workers and their metrics

interface WorkerSample {
  t: number;
  scored: number;
  fheSeconds: number;
  cpuSeconds: number;
  rss: number;
  bytesIn: number;
  bytesOut: number;
}

interface Worker {
  proc: Child;
  port: number;
  samples: WorkerSample[];
}

async function spawnWorkers(k: number, brokers: string, catalog: string): Promise<Worker[]> {
  const workers: Worker[] = [];
  for (let i = 0; i < k; i++) {
    const port = await freeLoopbackPort();
    workers.push({ port, samples: [], proc: startCli(['worker', 'scorer', '--brokers', brokers, '--catalog', catalog, '--threads', '1', '--metrics-port', String(port), '--log-level', 'warn']) });
  }
  return workers;
}

async function startWorkers(k: number, brokers: string, catalog: string): Promise<Worker[]> {
  const workers = await spawnWorkers(k, brokers, catalog);
  await groupStable(workers, brokers);
  return workers;
}

/** Waits until every worker is a member of the scoring group and the group is stable. */
async function groupStable(workers: Worker[], brokers: string): Promise<void> {
  const k = workers.length;
  const kafka = new Kafka({ brokers: [brokers], clientId: 'blindear-bench', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(async () => {
      for (const w of workers) if (w.proc.child.exitCode !== null) throw new Error(`worker exited: ${w.proc.stderr().slice(-2000)}`);
      const { groups } = await admin.describeGroups([SCORER_GROUP]);
      return groups[0]?.state === 'Stable' && groups[0].members.length === k ? true : undefined;
    }, `${k} scoring workers in the group`, 180_000, 500);
  } finally {
    await admin.disconnect();
  }
}

async function sampleWorkers(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map(async (w) => {
    const m = await scrape(w.port);
    if (!m) return;
    w.samples.push({
      t: now(),
      scored: metric(m, 'blindear_fhe_evaluation_seconds_count'),
      fheSeconds: metric(m, 'blindear_fhe_evaluation_seconds_sum'),
      cpuSeconds: metric(m, 'process_cpu_seconds_total'),
      rss: metric(m, 'process_resident_memory_bytes'),
      bytesIn: metric(m, 'blindear_ciphertext_bytes_total', { stage: 'scorer', direction: 'in' }),
      bytesOut: metric(m, 'blindear_ciphertext_bytes_total', { stage: 'scorer', direction: 'out' }),
    });
  }));
}

/** Samples the workers every `everyMs` until the returned stop() is called (which takes one last sample). */
function sampler(workers: Worker[], everyMs = 250): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      await sampleWorkers(workers);
      await sleep(everyMs);
    }
  })();
  return async () => {
    running = false;
    await loop;
    await sampleWorkers(workers);
  };
}

// ------------------------------------------------------------------ sessions

interface SessionRun {
  predictions: Prediction[];
  audioSeconds: number;
  track: string;
}

async function runSessions(ids: string[], files: { file: string; seconds: number; track: string }[], brokers: string, catalog: string, realtime: boolean): Promise<SessionRun[]> {
  const procs = ids.map((session, i) =>
    startCli(['stream', files[i].file, '--catalog', catalog, '--brokers', brokers, '--session', session, '--output', '-', '--log-level', 'warn', ...(realtime ? ['--realtime'] : [])]));
  const outs = await Promise.all(procs.map((p, i) => runToEnd(p, `stream session ${ids[i]}`)));
  return outs.map((out, i) => ({
    predictions: out.trim().split('\n').filter(Boolean).map((l) => Prediction.parse(JSON.parse(l))),
    audioSeconds: files[i].seconds,
    track: files[i].track,
  }));
}

const latencies = (runs: SessionRun[]) => runs.flatMap((r) => r.predictions.map((p) => p.latencyMs));
const matched = (runs: SessionRun[]) => {
  const all = runs.flatMap((r) => r.predictions.map((p) => p.match?.path === basename(r.track)));
  return `${all.filter(Boolean).length}/${all.length}`;
};

export interface RoundResult {
  workers: number;
  sessions: number;
  audioSeconds: number;
  queries: number;
  wallSeconds: number;
  audioSecondsPerWallSecond: number;
  perWorker: number;
  fheBusyShare: number;
  audioSecondsPerWorkerCpuSecond: number;
  queryBytesPerAudioSecond: number;
  resultBytesPerAudioSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; n: number };
  predictionsRight: string;
  rssMiB: { ready: number; afterFirstQuery: number; peak: number; end: number }[];
}

/**
 * Throughput, busy share, bytes and memory of one round, from the workers' samples. Each worker's rate is
 * taken over its own interval, from the sample that first shows a scored query to the one that shows its
 * last: the queries scored in between over that time (the first is not counted: it started before).
 */
function summarise(workers: Worker[], runs: SessionRun[], opts: { overlap?: boolean } = {}): RoundResult {
  const audioSeconds = runs.reduce((a, r) => a + r.audioSeconds, 0);
  const end = (w: Worker) => w.samples[w.samples.length - 1];
  const queries = workers.reduce((a, w) => a + end(w).scored, 0);
  const audioPerQuery = audioSeconds / queries;
  const perWorker = opts.overlap ? overlapRate(workers, audioPerQuery) : workers.map((w) => {
    const first = w.samples.find((s) => s.scored > 0);
    const last = w.samples.find((s) => s.scored === end(w).scored);
    const seconds = first && last ? (last.t - first.t) / 1000 : 0;
    if (!first || !last || seconds <= 0) return { seconds, rate: NaN, busy: NaN };
    return { seconds, rate: ((last.scored - first.scored) * audioPerQuery) / seconds, busy: (last.fheSeconds - first.fheSeconds) / seconds };
  });
  const rate = perWorker.reduce((a, x) => a + x.rate, 0);
  const cpu = workers.reduce((a, w) => a + end(w).cpuSeconds - w.samples[0].cpuSeconds, 0);
  const total = (f: (s: WorkerSample) => number) => workers.reduce((a, w) => a + f(end(w)), 0);
  const lat = latencies(runs);
  const mib = (b: number) => round(b / 2 ** 20, 0);
  return {
    workers: workers.length,
    sessions: runs.length,
    audioSeconds: round(audioSeconds),
    queries,
    wallSeconds: round(Math.max(...perWorker.map((x) => x.seconds)), 2),
    audioSecondsPerWallSecond: round(rate, 1),
    perWorker: round(rate / workers.length, 1),
    fheBusyShare: round(perWorker.reduce((a, x) => a + x.busy, 0) / workers.length, 2),
    audioSecondsPerWorkerCpuSecond: round(audioSeconds / cpu, 1),
    queryBytesPerAudioSecond: Math.round(total((s) => s.bytesIn) / audioSeconds),
    resultBytesPerAudioSecond: Math.round(total((s) => s.bytesOut) / audioSeconds),
    latencyMs: { p50: percentile(lat, 50), p95: percentile(lat, 95), p99: percentile(lat, 99), n: lat.length },
    predictionsRight: matched(runs),
    rssMiB: workers.map((w) => {
      const firstQuery = w.samples.find((s) => s.scored > 0) ?? w.samples[0];
      return { ready: mib(w.samples[0].rss), afterFirstQuery: mib(firstQuery.rss), peak: mib(Math.max(...w.samples.map((s) => s.rss))), end: mib(w.samples[w.samples.length - 1].rss) };
    }),
  };
}

/**
 * On a backlog the first worker to join starts before the others: the aggregate rate is taken over the
 * interval where every worker is scoring (from the last one's first query to the first one's last), from
 * the sum of their counters — samples are taken together, so their times line up.
 */
function overlapRate(workers: Worker[], audioPerQuery: number): { seconds: number; rate: number; busy: number }[] {
  const end = (w: Worker) => w.samples[w.samples.length - 1];
  const from = Math.max(...workers.map((w) => w.samples.find((s) => s.scored > 0)?.t ?? Infinity));
  const to = Math.min(...workers.map((w) => w.samples.find((s) => s.scored === end(w).scored)?.t ?? -Infinity));
  const at = (w: Worker, t: number) => w.samples.filter((s) => s.t <= t).pop() ?? w.samples[0];
  const seconds = (to - from) / 1000;
  if (!(seconds > 0)) return workers.map(() => ({ seconds: 0, rate: NaN, busy: NaN }));
  return workers.map((w) => ({
    seconds,
    rate: ((at(w, to).scored - at(w, from).scored) * audioPerQuery) / seconds,
    busy: (at(w, to).fheSeconds - at(w, from).fheSeconds) / seconds,
  }));
}

// ------------------------------------------------------------------ the scenario

async function excerpts(tracks: string[], n: number, seconds: number, dir: string, tag: string): Promise<{ file: string; seconds: number; track: string }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const track = tracks[i % tracks.length];
    const start = 10 + 20 * Math.floor(i / tracks.length);
    const pcm = await decodeFile(track, { sampleRate: PIPELINE_SAMPLE_RATE, startSeconds: start, durationSeconds: seconds });
    const file = join(dir, `${tag}-${i}.wav`);
    await writeWav(file, pcm, PIPELINE_SAMPLE_RATE);
    out.push({ file, seconds: pcm.length / PIPELINE_SAMPLE_RATE, track });
  }
  return out;
}

/**
 * Resolves once the queries topic has stopped growing for `quietMs` after growing at least once: the
 * sessions have sent every query they will send before anyone scores them.
 */
async function backlogProduced(brokers: string, quietMs = 3_000): Promise<number> {
  const kafka = new Kafka({ brokers: [brokers], clientId: 'blindear-bench-backlog', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const total = async () => (await admin.fetchTopicOffsets(TOPICS.queries.name)).reduce((a, p) => a + Number(p.high), 0);
    const start = await total();
    let last = start;
    let since = now();
    return await waitFor(async () => {
      const t = await total();
      if (t !== last) {
        last = t;
        since = now();
      }
      return last > start && now() - since >= quietMs ? last - start : undefined;
    }, 'the sessions to produce their queries', 600_000, 500);
  } finally {
    await admin.disconnect();
  }
}

export interface KafkaResult {
  catalogue: { tracks: number; classes: number; d: number; windowSeconds: number; hopSeconds: number; enrolMs: number | null };
  keyBytesPerSession: number;
  rounds: RoundResult[];
  scaling: number;
  /** The same sessions, queued before the workers start: the workers' own scaling. */
  backlogRounds: RoundResult[];
  backlogScaling: number;
  realtime: { sessions: number; audioSeconds: number; latencyMs: { p50: number; p95: number; p99: number; n: number }; predictionsRight: string; rssMiB: RoundResult['rssMiB'] } | null;
}

export async function runKafkaThroughput(opts: KafkaOptions): Promise<{ result: KafkaResult; markdown: string }> {
  const { dir: catalog, manifest, enrolMs } = await benchCatalog(opts.tracks, opts.log);
  const feature = manifest.feature;
  if (feature.kind !== 'landmark') throw new Error('bench catalogue must be landmark');
  const client = await ClientSession.create(manifest.he, { classes: manifest.classes.track.length, dim: manifest.dim });
  const keyBytesPerSession = client.publicMaterial().byteLength;
  client.dispose();

  const work = await mkdtemp(join(tmpdir(), 'blindear-bench-audio-'));
  const removeWork = onCleanup(() => rm(work, { recursive: true, force: true }));
  const broker = await startBroker();
  const workers: Worker[] = [];
  try {
    opts.log(`broker at ${broker.address}`);
    await runToEnd(startCli(['topics', '--brokers', broker.address, '--partitions', String(PARTITIONS)]), 'blindear topics');
    const files = await excerpts(opts.tracks, opts.sessions, opts.excerptSeconds, work, 'load');
    const rounds: RoundResult[] = [];
    let realtime: KafkaResult['realtime'] = null;
    for (const k of [1, 2]) {
      workers.push(...await startWorkers(k, broker.address, catalog));
      const stopSampling = sampler(workers);
      opts.log(`${k} worker(s) ready; ${opts.sessions} sessions of ${opts.excerptSeconds} s, faster than real time`);
      let runs: SessionRun[];
      try {
        runs = await runSessions(balancedSessions(`bench-w${k}`, opts.sessions), files, broker.address, catalog, false);
      } finally {
        await stopSampling();
      }
      const r = summarise(workers, runs);
      opts.log(`${k} worker(s): ${r.audioSecondsPerWallSecond} audio s per wall s, busy ${r.fheBusyShare}, p50 latency ${r.latencyMs.p50} ms`);
      rounds.push(r);
      if (k === 2 && opts.realtimeSessions > 0) {
        // Live-like latency: sessions paced at real time against the two workers.
        const rtFiles = await excerpts(opts.tracks, opts.realtimeSessions, opts.realtimeSeconds, work, 'realtime');
        for (const w of workers) w.samples.length = 0;
        const stopRt = sampler(workers, 1000);
        opts.log(`${opts.realtimeSessions} real-time sessions of ${opts.realtimeSeconds} s`);
        let rtRuns: SessionRun[];
        try {
          rtRuns = await runSessions(balancedSessions('bench-rt', opts.realtimeSessions), rtFiles, broker.address, catalog, true);
        } finally {
          await stopRt();
        }
        const lat = latencies(rtRuns);
        const rt = summarise(workers, rtRuns);
        realtime = {
          sessions: rtRuns.length, audioSeconds: round(rtRuns.reduce((a, r) => a + r.audioSeconds, 0)),
          latencyMs: { p50: percentile(lat, 50), p95: percentile(lat, 95), p99: percentile(lat, 99), n: lat.length },
          predictionsRight: matched(rtRuns), rssMiB: rt.rssMiB,
        };
      }
      for (const w of workers.splice(0)) await w.proc.stop();
    }
    const backlogRounds: RoundResult[] = [];
    for (const k of [1, 2]) {
      // Sessions first: they encrypt and queue every query (twice the live rounds' sessions, so that the
      // workers' start-up is small against the scoring time). Then the clients are killed — abandoned
      // sessions, keys left in the table — so that the workers have the cores to themselves (with the
      // broker), and the workers drain the backlog. The answers are checked in the live rounds.
      const ids = balancedSessions(`bench-backlog-w${k}`, 2 * opts.sessions);
      const backlogFiles = [...files, ...files];
      const clients = ids.map((session, i) =>
        startCli(['stream', backlogFiles[i].file, '--catalog', catalog, '--brokers', broker.address, '--session', session, '--output', '-', '--log-level', 'warn']));
      const queued = await backlogProduced(broker.address);
      for (const c of clients) {
        c.child.kill('SIGKILL');
        await c.exited;
      }
      opts.log(`${queued} queries queued by ${clients.length} sessions (clients stopped); starting ${k} worker(s) on the backlog`);
      // Sampling starts with the processes: a worker scores as soon as it holds a partition.
      workers.push(...await spawnWorkers(k, broker.address, catalog));
      const stopSampling = sampler(workers);
      const runs: SessionRun[] = backlogFiles.map((f) => ({ predictions: [], audioSeconds: f.seconds, track: f.track }));
      try {
        await groupStable(workers, broker.address);
        await waitFor(() => (workers.reduce((a, w) => a + (w.samples[w.samples.length - 1]?.scored ?? 0), 0) >= queued ? true : undefined),
          `${k} worker(s) to score the ${queued} queued queries`, 600_000, 250);
      } finally {
        await stopSampling();
      }
      const r = summarise(workers, runs, { overlap: true });
      opts.log(`backlog, ${k} worker(s): ${r.audioSecondsPerWallSecond} audio s per wall s, busy ${r.fheBusyShare}`);
      backlogRounds.push(r);
      for (const w of workers.splice(0)) await w.proc.stop();
    }
    const result: KafkaResult = {
      catalogue: { tracks: manifest.tracks.length, classes: manifest.classes.track.length, d: manifest.dim, windowSeconds: feature.params.windowSeconds, hopSeconds: feature.params.hopSeconds, enrolMs: enrolMs === null ? null : round(enrolMs, 0) },
      keyBytesPerSession,
      rounds,
      scaling: round(rounds[1].audioSecondsPerWallSecond / rounds[0].audioSecondsPerWallSecond, 2),
      backlogRounds,
      backlogScaling: round(backlogRounds[1].audioSecondsPerWallSecond / backlogRounds[0].audioSecondsPerWallSecond, 2),
      realtime,
    };
    return { result, markdown: markdownOf(result) };
  } finally {
    for (const w of workers) await w.proc.stop();
    await broker.stop();
    await removeWork();
  }
}

function markdownOf(r: KafkaResult): string {
  const c = r.catalogue;
  const kib = (b: number) => round(b / 1024, 1);
  const rss = (x: RoundResult['rssMiB']) => x.map((w) => `${w.ready} → ${w.afterFirstQuery} → peak ${w.peak} → ${w.end}`).join('; ');
  const rows = (rounds: RoundResult[], mode: string) => rounds.map((x) => [mode, x.workers, x.sessions, x.audioSeconds, x.queries, x.wallSeconds, x.audioSecondsPerWallSecond, x.perWorker, x.fheBusyShare, x.audioSecondsPerWorkerCpuSecond,
    kib(x.queryBytesPerAudioSecond), kib(x.resultBytesPerAudioSecond), x.latencyMs.n > 0 ? `${x.latencyMs.p50} / ${x.latencyMs.p95} / ${x.latencyMs.p99} (${x.latencyMs.n})` : '–',
    x.latencyMs.n > 0 ? x.predictionsRight : '–', rss(x.rssMiB)]);
  const lines = [
    '## 3. Through a real Kafka broker (landmark catalogue)',
    '',
    `Catalogue: ${c.tracks} ci tracks, C = ${c.classes} segments × d = ${c.d}, ${c.windowSeconds} s windows every ${c.hopSeconds} s (one query per window)` +
      `${c.enrolMs === null ? ' (cached enrolment)' : `, enrolled in ${round(c.enrolMs / 1000, 1)} s`}. ${PARTITIONS} partitions; sessions keyed to spread evenly over them. ` +
      'Sessions stream WAV excerpts faster than real time; each worker\'s rate is taken between its first and its last query scored (worker metrics sampled every 250 ms), and the rates are summed. ' +
      '"audio s per worker CPU s" divides by all the workers\' CPU time from ready to the end (Kafka client, validation and idle polling included).',
    '',
    mdTable(
      ['clients', 'workers', 'sessions', 'audio s', 'queries', 'scoring interval s', 'audio s per wall s', 'per worker (= real-time streams per worker)', 'FHE busy share', 'audio s per worker CPU s', 'query KiB per audio s', 'result KiB per audio s', 'latency p50 / p95 / p99 ms (n)', 'right track', 'worker RSS MiB: ready → first query → peak → end'],
      [...rows(r.rounds, 'live'), ...rows(r.backlogRounds, 'backlog')],
    ),
    '',
    `- 1 → 2 workers: ×${r.scaling} audio seconds per wall second with the clients encrypting beside the workers (live; the 2 cores are shared with the broker and the clients), ` +
      (Number.isFinite(r.backlogScaling)
        ? `×${r.backlogScaling} on a backlog queued before the workers started (the workers alone on the cores; rate over the interval where all score; latency there is queueing time).`
        : 'the backlog was scored before every worker had joined (too small a run to measure the workers\' own scaling).') +
      ' In the backlog rounds the clients are stopped once their queries are queued: the workers share the cores with the broker only.',
    `- One-off key material per session: ${kib(r.keyBytesPerSession)} KiB (Galois keys, seeded + zstd).`,
    `- Latency under load includes queueing behind other sessions' windows (the files arrive faster than real time).`,
  ];
  if (r.realtime) {
    const rt = r.realtime;
    lines.push(`- Real-time paced (${rt.sessions} sessions, ${rt.audioSeconds} audio s, 2 workers): window → prediction latency p50 / p95 / p99 = ${rt.latencyMs.p50} / ${rt.latencyMs.p95} / ${rt.latencyMs.p99} ms (n = ${rt.latencyMs.n}), right track ${rt.predictionsRight}; worker RSS MiB ${rss(rt.rssMiB)}.`);
  }
  return lines.join('\n');
}

