/**
 * `blindear monitor` against real brokers and real audio: plays in the airplay log, a client service
 * killed and restarted mid-stream continuing its session, a source that drops and comes back, and the
 * two zones on two clusters.
 */
import { createServer, type Server } from 'node:http';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { encodeWav } from '../../connectors/wav.js';
import { AirplayEvent, Prediction } from '../../schemas/messages.js';
import { TOPICS, dlqName } from '../../schemas/topics.js';
import { loadManifest } from '../../pipeline/model/catalog-store.js';
import { encodeRecord } from '../../pipeline/runtime/codec.js';
import { startBroker, testBrokers, type TestBroker } from '../helpers/broker.js';
import { testCatalog, type TestCatalog } from '../helpers/catalog.js';
import { runCli, startCli, waitFor } from '../helpers/cli.js';
import { MUSIC_DIR, REPO, tracksPerPackage } from '../helpers/music.js';

const { Kafka, logLevel } = kafkajs;
const RATE = 22050;
const WORK = join(REPO, '.cache', 'test-monitor');

/** A programme of whole-track openings: `seconds` of each track from its start, 3 s of silence between. */
async function programme(tracks: string[], seconds: number): Promise<{ pcm: Float32Array; plays: { path: string; start: number; end: number }[] }> {
  const parts: Float32Array[] = [];
  const plays: { path: string; start: number; end: number }[] = [];
  let at = 0;
  for (const t of tracks) {
    const pcm = (await decodeFile(join(MUSIC_DIR, t), { sampleRate: RATE })).slice(0, seconds * RATE);
    plays.push({ path: t, start: at / RATE, end: (at + pcm.length) / RATE });
    parts.push(pcm, new Float32Array(3 * RATE));
    at += pcm.length + 3 * RATE;
  }
  const out = new Float32Array(at);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return { pcm: out, plays };
}

const readJsonl = <T>(file: string, parse: (v: unknown) => T): T[] =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => parse(JSON.parse(l))) : [];

async function topicRecords(brokers: string[], topic: string): Promise<{ key: string; value: Buffer }[]> {
  const kafka = new Kafka({ brokers, clientId: 'monitor-test', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = ends.reduce((n, e) => n + Number(e.high) - Number(e.low), 0);
  const out: { key: string; value: Buffer }[] = [];
  if (total === 0) return out;
  const consumer = kafka.consumer({ groupId: `monitor-test-${Math.random()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => { out.push({ key: message.key?.toString() ?? '', value: message.value ?? Buffer.alloc(0) }); } });
  await waitFor(async () => (out.length >= total ? true : undefined), `${topic} read`, 60_000, 200);
  await consumer.disconnect();
  return out;
}

async function produce(brokers: string[], records: { topic: string; message: kafkajs.Message }[]): Promise<void> {
  const kafka = new Kafka({ brokers, clientId: 'monitor-test', logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (const r of records) await producer.send({ topic: r.topic, acks: -1, messages: [r.message] });
  } finally {
    await producer.disconnect();
  }
}

describe('blindear monitor', () => {
  let catalog: TestCatalog;
  let brokers: string[];
  let scorer: ReturnType<typeof startCli>;
  let tracks: string[];

  beforeAll(async () => {
    brokers = testBrokers();
    const enrolled = tracksPerPackage(3);
    catalog = await testCatalog('landmark', enrolled);
    tracks = [enrolled[0], enrolled[4], enrolled[7]];
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(WORK, { recursive: true });
    scorer = startCli(['worker', 'scorer', '--brokers', brokers.join(','), '--catalog', catalog.dir, '--log-level', 'warn']);
  });

  afterAll(async () => {
    await scorer?.stop();
  });

  it('killed (SIGKILL) and restarted mid-stream, continues its session: same keys, every play once, nothing decided twice', async () => {
    const { pcm, plays } = await programme(tracks, 33);
    const wav = join(WORK, 'restart.wav');
    writeFileSync(wav, encodeWav(pcm, RATE));
    const stations = join(WORK, 'restart-stations.json');
    writeFileSync(stations, JSON.stringify([{ id: 'restart-fm', source: wav, name: 'Restart FM' }]));
    const out = join(WORK, 'restart-airplay.jsonl');
    const args = ['monitor', '--stations', stations, '--catalog', catalog.dir, '--brokers', brokers.join(','), '--output', out,
      '--client-key-file', join(WORK, 'client.key'), '--pace', 'realtime', '--log-level', 'info'];
    // A session this service does not hold shares the topics (another client service's, or one that ended
    // and whose record was deleted): its audio and windows are neither worked on nor dead-lettered here.
    const manifest = await loadManifest(catalog.dir);
    const foreign = `s.foreign-${Date.now()}`;
    const now = Date.now();
    const topics = await runCli(['topics', '--brokers', brokers.join(',')]);
    expect(topics.code, topics.stderr).toBe(0);
    await produce(brokers, [
      encodeRecord({ topic: 'audio', key: foreign, envelope: { session: foreign, seq: 0, sampleRate: RATE, startSample: 0, final: true, capturedAtMs: now, discontinuity: false }, value: new Uint8Array(pcm.slice(0, 20 * RATE).buffer) }),
      encodeRecord({ topic: 'features', key: foreign, envelope: { session: foreign, seq: 0, count: 1, prev: -1, dim: manifest.dim, modelId: manifest.modelId, startSeconds: 0, final: true, capturedAtMs: now, boundaries: [] }, value: new Uint8Array(manifest.dim * 4) }),
      // Its airplay (decided by its own service) is that service's to deliver, not this one's.
      encodeRecord({ topic: 'airplay', key: foreign, envelope: {
        event: 'started', station: 'elsewhere', session: foreign, path: manifest.tracks[0].path, title: manifest.tracks[0].title, streamStartSeconds: 0,
        startedAt: new Date(now).toISOString(), durationSeconds: 15, offsetSeconds: 0, confidence: 0.9, modelId: manifest.modelId, playId: `${foreign}:0:0`, decidedAtMs: now,
      } }),
    ].map((m, i) => ({ topic: [TOPICS.audio.name, TOPICS.features.name, TOPICS.airplay.name][i], message: m })));
    const first = startCli(args);
    // Kill it once the first play is logged, while the second one is on air.
    await waitFor(async () => (readJsonl(out, (v) => AirplayEvent.parse(v)).some((e) => e.event === 'started') ? true : undefined), 'first play started', 180_000, 500)
      .catch((err: Error) => { throw new Error(`${err.message}; the monitor's log ends: ${first.stderr().slice(-3000)}`); });
    await waitFor(async () => (first.stderr().includes('"msg":"source connected"') ? true : undefined), 'connected', 10_000, 200);
    first.child.kill('SIGKILL');
    await first.stop();
    const session = readJsonl(out, (v) => AirplayEvent.parse(v))[0].session;
    const second = startCli(args);
    const exit = await exitOf(second.child, 300_000, second.stderr);
    expect(exit, second.stderr().slice(-3000)).toBe(0);
    expect(second.stderr()).toContain('"msg":"session resumed"');

    const events = readJsonl(out, (v) => AirplayEvent.parse(v));
    // One session across the restart, under the same sealed keys (the foreign session's play is not delivered here).
    expect(new Set(events.map((e) => e.session))).toEqual(new Set([session]));
    const sealed = (await topicRecords(brokers, TOPICS.clientSessions.name)).filter((r) => r.key === session && r.value.length);
    expect(new Set(sealed.map((r) => JSON.parse(r.value.toString()).sealedSecretKey)).size).toBe(1);
    // Every play of the programme is in the log, started once and ended once, in order.
    const started = events.filter((e) => e.event === 'started');
    const ended = events.filter((e) => e.event === 'ended');
    expect(new Set(started.map((e) => e.playId)).size).toBe(started.length);
    expect(started.map((e) => e.path)).toEqual(plays.map((p) => p.path));
    expect(ended.map((e) => e.playId)).toEqual(started.map((e) => e.playId));
    for (const [i, p] of plays.entries()) {
      // Placed within a window (15 s) of the truth: no gap beyond the outage.
      expect(Math.abs(started[i].streamStartSeconds - p.start)).toBeLessThanOrEqual(15);
      expect(Math.abs(ended[i].streamEndSeconds! - p.end)).toBeLessThanOrEqual(15);
    }
    // Nothing decided twice: each window span has one prediction on the topic.
    const preds = (await topicRecords(brokers, TOPICS.predictions.name)).filter((r) => r.key === session).map((r) => Prediction.parse(JSON.parse(r.value.toString())));
    const spans = preds.map((p) => `${p.fromSeq}-${p.toSeq}${p.final ? 'f' : ''}`);
    expect(new Set(spans).size).toBe(spans.length);
    expect(preds.filter((p) => p.final)).toHaveLength(1);
    // The foreign session: no windows made, nothing encrypted, no dead letters.
    expect((await topicRecords(brokers, TOPICS.features.name)).filter((r) => r.key === foreign)).toHaveLength(1);
    expect((await topicRecords(brokers, TOPICS.queries.name)).filter((r) => r.key === foreign)).toEqual([]);
    for (const t of [TOPICS.audio.name, TOPICS.features.name]) {
      expect((await topicRecords(brokers, dlqName(t))).filter((r) => r.key === foreign), dlqName(t)).toEqual([]);
    }
  }, 600_000);

  it('a URL source that drops is reported and reconnected, and its plays are still logged', async () => {
    const { pcm, plays } = await programme(tracks.slice(0, 2), 40);
    const half = 22 * RATE;
    let connections = 0;
    // An HTTP stream paced at real time that breaks after 22 s; the next connection carries on live.
    const server: Server = createServer((req, res) => {
      const n = connections++;
      res.writeHead(200, { 'content-type': 'audio/wav' });
      const start = n === 0 ? 0 : Math.min(pcm.length, half + 4 * RATE);
      const stop = n === 0 ? half : pcm.length;
      // A live WAV stream: a header whose sizes say "as long as it lasts".
      const header = Buffer.from(encodeWav(new Float32Array(0), RATE).subarray(0, 44));
      header.writeUInt32LE(0x7ffff000, 4);
      header.writeUInt32LE(0x7ffff000, 40);
      res.write(header);
      let at = start;
      const timer = setInterval(() => {
        const next = Math.min(stop, at + RATE / 4);
        const chunk = encodeWav(pcm.subarray(at, next), RATE).subarray(44);
        res.write(chunk);
        at = next;
        if (at >= stop) { clearInterval(timer); if (n === 0) req.socket.destroy(); }
      }, 250);
      req.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const stations = join(WORK, 'url-stations.yaml');
    writeFileSync(stations, `stations:
  - id: live-fm
    source: http://127.0.0.1:${port}/live.wav
    genre: test
`);
    const out = join(WORK, 'url-airplay.jsonl');
    const mon = startCli(['monitor', '--stations', stations, '--catalog', catalog.dir, '--brokers', brokers.join(','), '--output', out,
      '--client-key-file', join(WORK, 'client.key'), '--stall-seconds', '3', '--log-level', 'info']);
    try {
      await waitFor(async () => (readJsonl(out, (v) => AirplayEvent.parse(v)).filter((e) => e.event === 'started').length >= 2 ? true : undefined),
        'both plays started', 240_000, 500);
      const log = mon.stderr();
      expect(log).toContain('BLINDEAR_ERR_STREAM_DROPPED');
      expect(log.match(/"msg":"source connected"/g)?.length).toBeGreaterThanOrEqual(2);
      expect(connections).toBeGreaterThanOrEqual(2);
      const started = readJsonl(out, (v) => AirplayEvent.parse(v)).filter((e) => e.event === 'started');
      expect(started.map((e) => e.path)).toEqual(plays.map((p) => p.path));
      // Stream time is wall-clock time of the live source: the 4 s outage is a gap, not a shift.
      expect(started[1].streamStartSeconds).toBeGreaterThan(plays[1].start - 15);
    } finally {
      await mon.stop();
      server.closeAllConnections();
      server.close();
    }
    expect(mon.child.exitCode).toBe(0);
  }, 600_000);

  it('runs the client zone and the server zone on two clusters, each topic only on its own', async () => {
    let other: TestBroker | undefined;
    try {
      other = await startBroker();
      const { pcm, plays } = await programme(tracks.slice(1, 3), 30);
      const wav = join(WORK, 'two.wav');
      writeFileSync(wav, encodeWav(pcm, RATE));
      const stations = join(WORK, 'two-stations.json');
      writeFileSync(stations, JSON.stringify({ stations: [{ id: 'two-clusters', source: wav }] }));
      const out = join(WORK, 'two-airplay.jsonl');
      const serverScorer = startCli(['worker', 'scorer', '--server-brokers', other.brokers.join(','), '--catalog', catalog.dir, '--log-level', 'warn']);
      try {
        const run = await runCli(['monitor', '--stations', stations, '--catalog', catalog.dir, '--client-brokers', brokers.join(','),
          '--server-brokers', other.brokers.join(','), '--output', out, '--client-key-file', join(WORK, 'client.key'), '--pace', 'fast', '--log-level', 'warn'], { timeoutMs: 300_000 });
        expect(run.code, run.stderr.slice(-3000)).toBe(0);
      } finally {
        await serverScorer.stop();
      }
      const started = readJsonl(out, (v) => AirplayEvent.parse(v)).filter((e) => e.event === 'started');
      expect(started.map((e) => e.path)).toEqual(plays.map((p) => p.path));
      const admin = new Kafka({ brokers: other.brokers, clientId: 't', logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      const serverTopics = (await admin.listTopics()).filter((t) => t.startsWith('blindear.') && !t.endsWith('.dlq'));
      await admin.disconnect();
      expect(serverTopics.sort()).toEqual(Object.values(TOPICS).filter((t) => t.zone === 'server').map((t) => t.name).sort());
      // The server cluster saw ciphertexts for the session, and never one of its audio chunks.
      expect((await topicRecords(other.brokers, TOPICS.queries.name)).length).toBeGreaterThan(0);
    } finally {
      await other?.stop();
    }
  }, 600_000);
});

function exitOf(child: import('node:child_process').ChildProcess, ms: number, stderr: () => string = () => ''): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) { resolve(child.exitCode); return; }
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`process did not exit in ${ms / 1000} s; its log ends: ${stderr().slice(-4000)}`)); }, ms);
    child.on('close', (code) => { clearTimeout(t); resolve(code); });
  });
}
