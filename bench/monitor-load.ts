/**
 * Scenario 4: the monitoring service under load. N stations paced at real time (a fifth of them live
 * HTTP streams served here, the rest files), one client-service process (`blindear monitor`, all
 * client-zone services) and two scoring workers, for `minutes`; then the same with a second
 * client-service instance in the same groups. Measures, sampled every 5 s: consumer lag of every group
 * (summed over partitions), window end → decision latency percentiles (the predictions' latencyMs, which
 * start at the wall-clock capture of a window's last sample), the client service's CPU and RSS, and how
 * the groups split the partitions (each session's records are read by the one instance that owns its
 * partition: no process reads a session it does not serve).
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { decodeFile } from '../connectors/ffmpeg.js';
import { encodeWav, writeWav } from '../connectors/wav.js';
import { Prediction } from '../schemas/messages.js';
import { TOPICS } from '../schemas/topics.js';
import { TOPOLOGY } from '../pipeline/topology.js';
import { benchCatalog, startBroker } from './kafka-throughput.js';
import { freeLoopbackPort, mdTable, metric, percentile, round, scrape, sleep, startCli, waitFor, type Child } from './util.js';

const { Kafka, logLevel } = kafkajs;
const RATE = 22050;

export interface MonitorLoadOptions {
  tracks: string[];
  stations: number;
  minutes: number;
  /** Client-service instances to measure, in turn (e.g. [1, 2]). */
  instances: number[];
  partitions: number;
  /** The catalogue's scoring scheme. */
  scheme: 'ckks' | 'lwe';
  log: (s: string) => void;
}

interface Round {
  instances: number;
  stations: number;
  minutes: number;
  decisions: number;
  latencyP50: number;
  latencyP95: number;
  latencyP99: number;
  lagMax: Record<string, number>;
  lagLast: Record<string, number>;
  cpuCores: number[];
  rssMiB: number[];
  /** The two scoring workers' CPU, cores. */
  scorerCores: number[];
  partitions: Record<string, number[][]>;
}

async function programme(tracks: string[], seconds: number): Promise<Float32Array> {
  const out = new Float32Array(Math.round(seconds * RATE));
  let at = 0;
  for (let i = 0; at < out.length; i++) {
    const pcm = await decodeFile(tracks[i % tracks.length], { sampleRate: RATE });
    out.set(pcm.subarray(0, Math.min(pcm.length, out.length - at)), at);
    at += pcm.length;
  }
  return out;
}

/** Live WAV streams paced at real time, each station's from its own offset in the programme. */
function liveServer(pcm: Float32Array): Server {
  return createServer((req, res) => {
    const id = Number(/\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    res.writeHead(200, { 'content-type': 'audio/wav' });
    const header = Buffer.from(encodeWav(new Float32Array(0), RATE).subarray(0, 44));
    header.writeUInt32LE(0x7ffff000, 4);
    header.writeUInt32LE(0x7ffff000, 40);
    res.write(header);
    let at = (id * 37 * RATE) % pcm.length;
    const t0 = Date.now();
    let sent = 0;
    const timer = setInterval(() => {
      const due = Math.floor(((Date.now() - t0) / 1000) * RATE) - sent;
      if (due <= 0) return;
      const parts: Buffer[] = [];
      for (let left = due; left > 0;) {
        const n = Math.min(left, pcm.length - at);
        parts.push(encodeWav(pcm.subarray(at, at + n), RATE).subarray(44));
        at = (at + n) % pcm.length;
        left -= n;
      }
      res.write(Buffer.concat(parts));
      sent += due;
    }, 200);
    req.on('close', () => clearInterval(timer));
  });
}

async function groupLag(admin: kafkajs.Admin, group: string, topic: string): Promise<number> {
  const ends = await admin.fetchTopicOffsets(topic);
  const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return ends.reduce((sum, e) => {
    const c = committed?.partitions.find((p) => p.partition === e.partition);
    const at = c && Number(c.offset) >= 0 ? Number(c.offset) : Number(e.high);
    return sum + Math.max(0, Number(e.high) - at);
  }, 0);
}

export async function runMonitorLoad(opts: MonitorLoadOptions): Promise<{ json: unknown; markdown: string }> {
  const { log } = opts;
  const broker = await startBroker();
  const work = await mkdtemp(join(tmpdir(), 'blindear-monitor-load-'));
  const catalog = await benchCatalog(opts.tracks, log, opts.scheme);
  const seconds = opts.minutes * 60 + 60;
  const pcm = await programme(opts.tracks, Math.max(seconds, 600));
  const file = join(work, 'programme.wav');
  await writeWav(file, pcm, RATE);
  const server = liveServer(pcm);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const kafka = new Kafka({ brokers: [broker.address], clientId: 'bench-monitor', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const rounds: Round[] = [];
  const children: Child[] = [];
  try {
    const topics = startCli(['topics', '--brokers', broker.address, '--partitions', String(opts.partitions)]);
    await topics.exited;
    const scorerPorts: number[] = [];
    for (let i = 0; i < 2; i++) {
      scorerPorts.push(await freeLoopbackPort());
      children.push(startCli(['worker', 'scorer', '--brokers', broker.address, '--catalog', catalog.dir, '--metrics-port', String(scorerPorts[i]), '--log-level', 'warn']));
    }
    for (const instances of opts.instances) {
      const stations = Array.from({ length: opts.stations }, (_, i) => (i % 5 === 0
        ? { id: `live-${instances}-${i}`, source: `http://127.0.0.1:${port}/${i}` }
        : { id: `file-${instances}-${i}`, source: file }));
      const stationsFile = join(work, `stations-${instances}.json`);
      await writeFile(stationsFile, JSON.stringify(stations));
      const metricsPorts: number[] = [];
      const services: Child[] = [];
      const startedAt = Date.now();
      for (let k = 0; k < instances; k++) {
        const mp = await freeLoopbackPort();
        metricsPorts.push(mp);
        services.push(startCli(['monitor', ...(k === 0 ? ['--stations', stationsFile] : []), '--catalog', catalog.dir, '--brokers', broker.address,
          '--output', join(work, `airplay-${instances}-${k}.jsonl`), '--client-key-file', join(work, 'client.key'), '--metrics-port', String(mp), '--log-level', 'warn']));
        if (k === 0) await waitFor(async () => (await scrape(mp)) ? true : undefined, 'monitor metrics', 120_000, 500);
      }
      log(`${instances} client-service instance(s), ${opts.stations} stations, ${opts.minutes} min ...`);
      const lagMax: Record<string, number> = {};
      const lagLast: Record<string, number> = {};
      const cpu: number[][] = metricsPorts.map(() => []);
      const rss: number[] = metricsPorts.map(() => 0);
      const scorerCpu: number[][] = scorerPorts.map(() => []);
      const t0 = Date.now();
      while (Date.now() - t0 < opts.minutes * 60_000) {
        await sleep(5000);
        for (const name of ['windowing', 'encrypt', 'decide', 'delivery', 'scorer'] as const) {
          const spec = TOPOLOGY[name];
          const lag = await groupLag(admin, spec.group!, TOPICS[spec.input!].name).catch(() => NaN);
          lagLast[name] = lag;
          if (Date.now() - t0 > 60_000) lagMax[name] = Math.max(lagMax[name] ?? 0, lag);
        }
        for (const [k, mp] of metricsPorts.entries()) {
          const m = await scrape(mp);
          if (!m) continue;
          cpu[k].push(metric(m, 'process_cpu_seconds_total'));
          rss[k] = Math.max(rss[k], metric(m, 'process_resident_memory_bytes') / 2 ** 20);
        }
        for (const [k, sp] of scorerPorts.entries()) {
          const m = await scrape(sp);
          if (m) scorerCpu[k].push(metric(m, 'process_cpu_seconds_total'));
        }
      }
      const described = await admin.describeGroups(['windowing', 'encrypt', 'decide', 'delivery'].map((n) => TOPOLOGY[n as 'decide'].group!));
      const partitions: Record<string, number[][]> = {};
      for (const g of described.groups) {
        partitions[g.groupId] = g.members.map((m) => {
          const a = kafkajs.AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
          return Object.values(a?.assignment ?? {}).flat() as number[];
        });
      }
      for (const s of services) await s.stop();
      // Every decision of the round, from the topic.
      const latencies: number[] = [];
      const consumer = kafka.consumer({ groupId: `bench-preds-${instances}-${Date.now()}` });
      await consumer.connect();
      await consumer.subscribe({ topic: TOPICS.predictions.name, fromBeginning: true });
      const ends = await admin.fetchTopicOffsets(TOPICS.predictions.name);
      const total = ends.reduce((n, e) => n + Number(e.high), 0);
      let seen = 0;
      await consumer.run({ eachMessage: async ({ message }) => {
        seen++;
        const p = Prediction.safeParse(JSON.parse(message.value?.toString() ?? 'null'));
        if (p.success && p.data.session.includes(`-${instances}-`) && p.data.decidedAtMs > startedAt + 60_000) latencies.push(p.data.latencyMs / 1000);
      } });
      await waitFor(async () => (seen >= total ? true : undefined), 'predictions read', 120_000, 500);
      await consumer.disconnect();
      const coresOf = (c: number[]): number => (c.length > 1 ? (c[c.length - 1] - c[0]) / (5 * (c.length - 1)) : NaN);
      const cores = cpu.map(coresOf);
      rounds.push({
        instances, stations: opts.stations, minutes: opts.minutes, decisions: latencies.length,
        latencyP50: percentile(latencies, 50), latencyP95: percentile(latencies, 95), latencyP99: percentile(latencies, 99),
        lagMax, lagLast, cpuCores: cores.map((c) => round(c, 2)), scorerCores: scorerCpu.map((c) => round(coresOf(c), 2)), rssMiB: rss.map((r) => round(r, 0)), partitions,
      });
      log(JSON.stringify(rounds.at(-1)));
    }
  } finally {
    for (const c of children) await c.stop();
    await admin.disconnect();
    server.closeAllConnections();
    server.close();
    await broker.stop();
  }
  const markdown = [
    `## Monitoring service under load`,
    '',
    `${opts.stations} stations paced at real time (a fifth live HTTP streams, the rest files), catalogue scored with ${opts.scheme.toUpperCase()}, 2 scoring workers, ${opts.partitions} partitions, ${opts.minutes} min per round (the first minute is warm-up); latency from the wall-clock capture of a window's last sample to its decrypted decision.`,
    '',
    mdTable(['client-service instances', 'decisions', 'p50 / p95 / p99 s', 'max lag after warm-up (windowing / encrypt / decide / delivery / scorer)', 'lag at the end', 'client-service CPU cores', 'scoring workers CPU cores', 'RSS MiB', 'partitions per instance (decide)'],
      rounds.map((r) => [r.instances, r.decisions, `${round(r.latencyP50, 2)} / ${round(r.latencyP95, 2)} / ${round(r.latencyP99, 2)}`,
        ['windowing', 'encrypt', 'decide', 'delivery', 'scorer'].map((n) => r.lagMax[n]).join(' / '),
        ['windowing', 'encrypt', 'decide', 'delivery', 'scorer'].map((n) => r.lagLast[n]).join(' / '),
        r.cpuCores.join(' + '), r.scorerCores.join(' + '), r.rssMiB.join(' + '), JSON.stringify(r.partitions[TOPOLOGY.decide.group!])])),
  ].join('\n');
  return { json: { rounds }, markdown };
}
