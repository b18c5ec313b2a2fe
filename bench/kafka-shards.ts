/**
 * Scenario 8: a sharded catalogue through Kafka, as deployed. A random LWE catalogue of C classes
 * (d = 2048, 10-bit weights) is split by `shardCatalog` into n shards (2 by default), each served by a
 * `blindear worker scorer` process in its shard's consumer group (`blindear-scorer-shard-<i>-of-<n>`) on
 * a broker of its own; a client session sends one-window queries on the queries topic, and every query is
 * answered by every group, whose parts the client merges and decrypts with the whole catalogue's hint.
 *
 * Reported: wall s per query one at a time (send → every part back) and for a queued backlog; each
 * shard's CPU ms per query (process_cpu_seconds_total over the backlog) and its evaluation time
 * (blindear_fhe_evaluation_seconds); each shard's resident memory; and a check that the merged scores'
 * argmax is the clear one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { createSigner, openScoringClients, signSessionKeys } from '../pipeline/he/client/index.js';
import { catalogParamsId } from '../pipeline/he/layout.js';
import { heParamsFor } from '../pipeline/model/enroll.js';
import { saveCatalog } from '../pipeline/model/catalog-store.js';
import { FILE_CHUNK_BYTES, sha256Hex } from '../pipeline/model/large-file.js';
import { shardCatalog, shardDirName, shardRanges, type ShardedCatalog } from '../pipeline/model/shard-catalog.js';
import { inputScaleFor, LWE_N } from '../pipeline/he/lwe.js';
import { LweScoringEngine } from '../pipeline/he/server/lwe-engine.js';
import { collectGarbage } from '../pipeline/runtime/gc.js';
import { CATALOG_LWE_HINT, CATALOG_MANIFEST, CATALOG_MODEL, CatalogManifest } from '../schemas/catalog.js';
import { LweParams } from '../schemas/he.js';
import { LandmarkParams } from '../schemas/feature-landmark.js';
import { decodeFrames } from '../schemas/frames.js';
import { ScoresEnvelope } from '../schemas/messages.js';
import { ENVELOPE_HEADER, TOPICS } from '../schemas/topics.js';
import { startBroker } from './kafka-throughput.js';
import { freeLoopbackPort, loadAverage, mdTable, metric, now, rng, round, runToEnd, scrape, startCli, waitFor, type Child } from './util.js';

const { Kafka, logLevel } = kafkajs;

export interface KafkaShardRow {
  C: number;
  build: 'whole' | 'by-shard';
  shards: number;
  queries: number;
  wallSecondsPerQuerySequential: number;
  wallSecondsPerQueryBacklog: number;
  shardCpuMsPerQuery: number[];
  shardEvalMsPerQuery: number[];
  shardRssMiB: number[];
  argmaxAgrees: boolean;
  buildSeconds: number;
  loadavg: number[];
}

/** The clear argmax of x over rows [first, first + rows) of w (rows × d), as [class, score]. */
function clearBest(w: Float32Array, rows: number, d: number, x: Float32Array, first: number, best: [number, number]): void {
  for (let c = 0; c < rows; c++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += w[c * d + k] * x[k];
    if (s > best[1]) { best[0] = first + c; best[1] = s; }
  }
}

function randomRows(rows: number, d: number, r: () => number): Float32Array {
  const w = new Float32Array(rows * d);
  for (let i = 0; i < w.length; i++) w[i] = r() * 2 - 1;
  return w;
}

const draftOf = (C: number, d: number) => {
  const params = LandmarkParams.parse({});
  return {
    feature: { kind: 'landmark' as const, params, idf: Array(d).fill(1) }, he: heParamsFor('landmark', params.hopSeconds, d),
    tracks: [{ path: 'random', title: 'random', durationSeconds: C }],
    classes: { track: Array(C).fill(0), startSeconds: Array.from({ length: C }, (_, i) => i), endSeconds: Array.from({ length: C }, (_, i) => i + 1) },
    dim: d, skipped: [], enrolment: {},
  };
};

/** The product's path: the whole catalogue enrolled as LWE (`saveCatalog`), then split by `shardCatalog`. */
async function buildWhole(o: { work: string; dir: string; C: number; d: number; count: number; r: () => number; x0: Float32Array }): Promise<{ split: ShardedCatalog; best: number }> {
  const best: [number, number] = [0, -Infinity];
  let weights: Float32Array | undefined = randomRows(o.C, o.d, o.r);
  clearBest(weights, o.C, o.d, o.x0, 0, best);
  const whole = join(o.work, 'whole');
  await saveCatalog(whole, draftOf(o.C, o.d), { classes: o.C, dim: o.d, weights, bias: new Float32Array(o.C) }, { scheme: 'lwe' });
  weights = undefined;
  const split = await shardCatalog({ catalogDir: whole, shards: o.count, outDir: o.dir });
  await rm(whole, { recursive: true, force: true });
  return { split, best: best[0] };
}

/**
 * The same folders built shard by shard, as a catalogue too large for one machine's memory would be: the
 * weights are uniform in [−1, 1], so the common 10-bit scale (511) and an input scale safe for any row
 * (norm ≤ 511·√d) are known before any row exists; each shard's rows are drawn, scored for the check
 * query, quantised and their hint rows computed (`LweScoringEngine.forCatalogue` as the shard's scorer
 * builds it, then its `hint()`), written, and let go; the client's folder gets the shards' hint rows in
 * order, and its manifest lists the shards. Its catalogue has no model.bin: a client never reads one.
 */
async function buildByShard(o: { dir: string; C: number; d: number; count: number; r: () => number; x0: Float32Array }): Promise<{ split: ShardedCatalog; best: number }> {
  const { C, d } = o;
  const ranges = shardRanges(C, o.count);
  const seed = randomBytes(16).toString('hex');
  const lwe = LweParams.parse({ scheme: 'lwe', n: LWE_N, seed, weightBits: 10, weightScale: 511, inputScale: inputScaleFor(511 * Math.sqrt(d)), maxWindowsPerQuery: 32 });
  const modelId = createHash('sha256').update(`random ${seed} ${C} ${d}`).digest('hex').slice(0, 16);
  const draft = draftOf(C, d);
  const whole = CatalogManifest.parse({ ...draft, format: 'blindear-catalog', version: 1, modelId, createdAt: new Date().toISOString(), scheme: 'lwe', lwe });
  await mkdir(o.dir, { recursive: true });
  const hintFile = await open(join(o.dir, `${CATALOG_LWE_HINT}.tmp`), 'w');
  const wholeHash = createHash('sha256');
  const append = async (b: Uint8Array): Promise<void> => {
    for (let at = 0; at < b.byteLength; at += FILE_CHUNK_BYTES) {
      const chunk = b.subarray(at, Math.min(b.byteLength, at + FILE_CHUNK_BYTES));
      wholeHash.update(chunk);
      await hintFile.write(chunk);
    }
  };
  const best: [number, number] = [0, -Infinity];
  const shards: ShardedCatalog['shards'] = [];
  try {
    for (const [index, range] of ranges.entries()) {
      const rows = range.classes;
      const weights = randomRows(rows, d, o.r);
      clearBest(weights, rows, d, o.x0, range.firstClass, best);
      const bias = new Float32Array(rows);
      const engine = LweScoringEngine.forCatalogue({ classes: rows, dim: d, weights, bias }, lwe, { shardOf: { totalClasses: C } });
      const hint = engine.hint();
      const model = new Float32Array(rows * d + rows);
      model.set(weights);
      const hintWords = new Int32Array(hint.length + rows);
      hintWords.set(hint);
      const modelBytes = new Uint8Array(model.buffer);
      const hintBytes = new Uint8Array(hintWords.buffer);
      await append(new Uint8Array(hint.buffer, hint.byteOffset, hint.byteLength));
      const end = range.firstClass + rows;
      const manifest = CatalogManifest.parse({
        ...whole,
        classes: { track: whole.classes.track.slice(range.firstClass, end), startSeconds: whole.classes.startSeconds.slice(range.firstClass, end), endSeconds: whole.classes.endSeconds.slice(range.firstClass, end) },
        checksums: { [CATALOG_MODEL]: sha256Hex(modelBytes), [CATALOG_LWE_HINT]: sha256Hex(hintBytes) },
        shard: { index, count: ranges.length, firstClass: range.firstClass, totalClasses: C },
      });
      const dir = join(o.dir, shardDirName(index, ranges.length));
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, CATALOG_MODEL), modelBytes);
      await writeFile(join(dir, CATALOG_LWE_HINT), hintBytes);
      await writeFile(join(dir, CATALOG_MANIFEST), JSON.stringify(manifest));
      shards.push({ dir, manifest });
    }
    await append(new Uint8Array(C * 4)); // the biases: zero
  } finally {
    await hintFile.close();
  }
  await rename(join(o.dir, `${CATALOG_LWE_HINT}.tmp`), join(o.dir, CATALOG_LWE_HINT));
  const manifest = CatalogManifest.parse({ ...whole, shards: ranges, checksums: { [CATALOG_LWE_HINT]: wholeHash.digest('hex') } });
  await writeFile(join(o.dir, CATALOG_MANIFEST), JSON.stringify(manifest));
  return { split: { manifest, shards }, best: best[0] };
}

export async function runKafkaShards(opts: { C: number; d: number; shards?: number; build?: 'whole' | 'by-shard'; queries: number; log: (s: string) => void }): Promise<{ rows: KafkaShardRow[]; markdown: string }> {
  const { C, d } = opts;
  const count = opts.shards ?? 2;
  const build = opts.build ?? 'whole';
  const work = await mkdtemp(join(tmpdir(), 'blindear-bench-shards-'));
  const children: Child[] = [];
  let broker: Awaited<ReturnType<typeof startBroker>> | undefined;
  let kafka: kafkajs.Kafka | undefined;
  const consumers: kafkajs.Consumer[] = [];
  try {
    let t = now();
    const r = rng(11);
    const window = (): Float32Array => {
      const x = Float32Array.from({ length: d }, () => r());
      const n = Math.hypot(...x);
      return x.map((v) => v / n);
    };
    // The check query: its clear argmax is computed while the weights exist (a large catalogue's weights
    // are GiBs this process need not hold beside the client's hint).
    const x0 = window();
    const sharded = join(work, 'sharded');
    const { split, best } = build === 'by-shard'
      ? await buildByShard({ dir: sharded, C, d, count, r, x0 })
      : await buildWhole({ work, dir: sharded, C, d, count, r, x0 });
    const buildSeconds = (now() - t) / 1000;
    opts.log(`kafka-shards: C=${C} catalogue built (${build}) in ${round(buildSeconds, 0)} s`);
    // The build's GiBs of rows are garbage: collected before the workers and the client's hint need the memory.
    collectGarbage();

    broker = await startBroker();
    const brokers = broker.address;
    await runToEnd(startCli(['topics', '--brokers', brokers, '--partitions', '2']), 'topics');
    kafka = new Kafka({ brokers: [brokers], clientId: 'bench-shards', logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    // One worker at a time: a scorer's start-up (its float model beside the quantised rows) holds twice
    // its steady memory, and eight starting at once on one machine would not fit where eight running do.
    const ports: number[] = [];
    for (const [i, s] of split.shards.entries()) {
      const port = await freeLoopbackPort();
      ports.push(port);
      children.push(startCli(['worker', 'scorer', '--brokers', brokers, '--catalog', s.dir, '--metrics-port', String(port), '--log-level', 'warn']));
      const group = `blindear-scorer-shard-${i}-of-${count}`;
      await waitFor(async () => {
        const { groups: [g] } = await admin.describeGroups([group]);
        return g?.state === 'Stable' && g.members.length === 1 ? true : undefined;
      }, group, 600_000, 500);
    }
    await admin.disconnect();

    // The client: the whole catalogue's hint, one session, its (LWE) keys record signed as the services do.
    const manifest = split.manifest;
    const clients = await openScoringClients(sharded, manifest);
    const client = await clients.create();
    const session = `bench-shards-${Date.now()}`;
    const producer = kafka.producer();
    await producer.connect();
    const signer = createSigner();
    const material = client.publicMaterial();
    await producer.send({ topic: TOPICS.sessionKeys.name, messages: [{ key: session, value: Buffer.from(material), headers: { [ENVELOPE_HEADER]: JSON.stringify(signSessionKeys(signer, { session, paramsId: catalogParamsId(manifest), modelId: manifest.modelId, createdAtMs: Date.now() }, material)) } }] });

    const waiting = new Map<number, { parts: Map<number, Uint8Array>; done: () => void }>();
    const consumer = kafka.consumer({ groupId: `bench-shards-${Date.now()}`, maxWaitTimeInMs: 100, maxBytesPerPartition: 32 * 1024 * 1024 });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic: TOPICS.scores.name, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() !== session) return;
        const env = ScoresEnvelope.parse(JSON.parse(String(message.headers?.[ENVELOPE_HEADER])));
        const w = waiting.get(env.seq);
        if (!w || !env.shard) return;
        w.parts.set(env.shard.index, decodeFrames(message.value!, 1)[0]);
        if (w.parts.size === count) w.done();
      },
    });
    let seq = 0;
    const ask = async (x: Float32Array): Promise<{ seq: number; parts: Map<number, Uint8Array>; ciphertext: Uint8Array }> => {
      const my = seq++;
      const ciphertext = client.encryptWindows([x]).ciphertexts[0];
      const parts = new Map<number, Uint8Array>();
      const done = new Promise<void>((resolve) => waiting.set(my, { parts, done: resolve }));
      await producer.send({ topic: TOPICS.queries.name, messages: [{ key: session, value: Buffer.from(ciphertext), headers: { [ENVELOPE_HEADER]: JSON.stringify({ session, seq: my, count: 1, paramsId: clients.paramsId, modelId: manifest.modelId, final: false, capturedAtMs: Date.now(), prev: my - 1 }) } }] });
      await done;
      waiting.delete(my);
      return { seq: my, parts, ciphertext };
    };
    // Warm-up (the workers' keys table, the consumer's assignment), then one query at a time.
    let timer: NodeJS.Timeout | undefined;
    const first = await Promise.race([ask(x0), new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('no answer of every shard within 120 s')), 120_000); })]);
    clearTimeout(timer);
    // The merged answer decrypts to the clear scores' argmax.
    const merged = new Float64Array(C);
    for (const [i, range] of manifest.shards!.entries()) merged.set(client.decryptShard!(first.parts.get(i)!, 1, range.firstClass, range.classes)[0], range.firstClass);
    let top = 0;
    for (let c = 1; c < C; c++) if (merged[c] > merged[top]) top = c;
    const argmaxAgrees = top === best;
    const sequential = Math.max(4, Math.floor(opts.queries / 2));
    t = now();
    for (let i = 0; i < sequential; i++) await ask(window());
    const wallSequential = (now() - t) / 1000 / sequential;
    // A backlog: every query sent at once.
    const before = await Promise.all(ports.map((p) => scrape(p)));
    t = now();
    await Promise.all(Array.from({ length: opts.queries }, () => ask(window())));
    const wallBacklog = (now() - t) / 1000 / opts.queries;
    const after = await Promise.all(ports.map((p) => scrape(p)));
    const per = (name: string, i: number): number => (metric(after[i]!, name) - metric(before[i]!, name)) / opts.queries;
    const row: KafkaShardRow = {
      C, build, shards: count, queries: opts.queries,
      wallSecondsPerQuerySequential: round(wallSequential, 3),
      wallSecondsPerQueryBacklog: round(wallBacklog, 3),
      shardCpuMsPerQuery: ports.map((_, i) => round(per('process_cpu_seconds_total', i) * 1000, 1)),
      shardEvalMsPerQuery: ports.map((_, i) => round(per('blindear_fhe_evaluation_seconds_sum', i) * 1000, 2)),
      shardRssMiB: after.map((m) => round(metric(m!, 'process_resident_memory_bytes') / 2 ** 20, 0)),
      argmaxAgrees, buildSeconds: round(buildSeconds, 0), loadavg: loadAverage(),
    };
    opts.log(`kafka-shards C=${C}: ${row.wallSecondsPerQuerySequential} s per query one at a time, ${row.wallSecondsPerQueryBacklog} s in a backlog; shard CPU ${row.shardCpuMsPerQuery.join(' / ')} ms, RSS ${row.shardRssMiB.join(' / ')} MiB`);
    await producer.disconnect();
    const markdown = [
      '## 8. A sharded catalogue through Kafka (one worker group per shard)',
      '',
      `A random LWE catalogue of C = ${C} classes × d = ${d} ${build === 'whole' ? 'enrolled whole and split by \`shardCatalog\`' : 'built shard by shard (each shard\'s rows, quantised at the common scale, and its hint rows, written and let go; the client\'s hint concatenated from theirs)'} into ${count} shards, each served by a \`blindear worker scorer\` process in its own consumer group on a broker of this run; ` +
        'one-window queries on the queries topic, answered by every group, merged and decrypted by the client. Wall s per query one at a time (send → every part back) and over a backlog of queries sent at once; ' +
        'per shard: CPU ms per query (process CPU over the backlog), evaluation ms per query, resident memory after the run.',
      '',
      mdTable(
        ['C', 'built', 'shards', 'queries', 's / query (one at a time)', 's / query (backlog)', 'shard CPU ms / query', 'shard evaluation ms / query', 'shard RSS MiB', 'merged argmax = clear', 'build s', 'load average after'],
        [[row.C, row.build, row.shards, row.queries, row.wallSecondsPerQuerySequential, row.wallSecondsPerQueryBacklog, row.shardCpuMsPerQuery.join(' / '), row.shardEvalMsPerQuery.join(' / '), row.shardRssMiB.join(' / '), row.argmaxAgrees ? 'yes' : 'NO', row.buildSeconds, row.loadavg.join(' ')]],
      ),
    ].join('\n');
    return { rows: [row], markdown };
  } finally {
    for (const c of consumers) await c.disconnect().catch(() => undefined);
    for (const c of children) await c.stop();
    await broker?.stop();
    await rm(work, { recursive: true, force: true });
  }
}
