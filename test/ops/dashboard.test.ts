/**
 * The operators' view against the real thing: a real Prometheus (Debian's package, infra/prometheus.sh)
 * scrapes two live scoring workers and a live `blindear monitor` whose station is fed through stdin (its
 * plays checked by position query, as deployed), and every panel of
 * the provisioned Grafana dashboard (infra/grafana/dashboards/blindear.json) is run through
 * Prometheus's HTTP API and must return data. Every process's exposition passes `promtool check
 * metrics`, and /healthz and /readyz answer once the consumers have joined.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { encodeWav } from '../../connectors/wav.js';
import { mixRadio } from '../../pipeline/eval/radio-mix.js';
import { PIPELINE_SAMPLE_RATE } from '../../pipeline/features/registry.js';
import { TOPICS } from '../../schemas/topics.js';
import { freeLoopbackPort, testBrokers } from '../helpers/broker.js';
import { testCatalog } from '../helpers/catalog.js';
import { runCli, startCli, waitFor } from '../helpers/cli.js';
import { MUSIC_DIR, REPO, tracksPerPackage } from '../helpers/music.js';

const { Kafka, logLevel } = kafkajs;
const DASHBOARD = join(REPO, 'infra', 'grafana', 'dashboards', 'blindear.json');

interface Panel { title: string; targets: { expr: string }[] }
interface PromResult { metric: Record<string, string>; value: [number, string] }

/** Grafana's interval variables, as Grafana would fill them for a 1 s scrape interval. */
const forPrometheus = (expr: string): string => expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h');

export const dashboardQueries = (): { panel: string; expr: string }[] =>
  (JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] }).panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: forPrometheus(t.expr) })));

function sh(cmd: string, args: string[], input?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    child.on('close', (code) => resolve({ code, out }));
    child.stdin.end(input);
  });
}

async function query(base: string, expr: string): Promise<PromResult[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: PromResult[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data!.result;
}

describe('Prometheus and the Grafana dashboard against live processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'blindear-prom-'));
  const processes: ReturnType<typeof startCli>[] = [];
  const ports: { job: string; port: number }[] = [];
  let monitor: ReturnType<typeof startCli> | undefined;
  let prometheus = '';
  const savedLagInterval = process.env.BLINDEAR_LAG_INTERVAL_MS;

  beforeAll(async () => {
    const installed = await sh('bash', ['infra/prometheus.sh', 'install']);
    expect(installed.code, installed.out).toBe(0);
    const brokers = testBrokers().join(',');
    const enrolled = tracksPerPackage(4);
    const catalog = await testCatalog('landmark', enrolled);
    const topics = await runCli(['topics', '--brokers', brokers, '--partitions', '2']);
    expect(topics.code, topics.stderr).toBe(0);
    // The lag poller every second, so the panel has data within a few scrapes.
    process.env.BLINDEAR_LAG_INTERVAL_MS = '1000';
    for (let i = 0; i < 2; i++) {
      const port = await freeLoopbackPort();
      ports.push({ job: 'blindear-scorer', port });
      processes.push(startCli(['worker', 'scorer', '--brokers', brokers, '--catalog', catalog.dir, '--metrics-port', String(port), '--log-level', 'warn']));
    }
    const monitorPort = await freeLoopbackPort();
    ports.push({ job: 'blindear-monitor', port: monitorPort });
    const stations = join(dir, 'stations.json');
    writeFileSync(stations, JSON.stringify([{ id: 'test-fm', source: '-' }]));
    // stdin stays open and idle once the programme is written: a long stall limit keeps the source up.
    monitor = startCli(['monitor', '--stations', stations, '--catalog', catalog.dir, '--brokers', brokers, '--pace', 'fast', '--output', join(dir, 'airplay.jsonl'),
      '--client-key-file', join(dir, 'client.key'), '--stall-seconds', '3600', '--metrics-port', String(monitorPort), '--log-level', 'warn']);
    processes.push(monitor);

    const promPort = await freeLoopbackPort();
    const config = join(dir, 'prometheus.yml');
    writeFileSync(config, [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      ...['blindear-scorer', 'blindear-monitor'].flatMap((job) => [
        `  - job_name: ${job}`,
        '    static_configs:',
        `      - targets: [${ports.filter((p) => p.job === job).map((p) => `"127.0.0.1:${p.port}"`).join(', ')}]`,
      ]),
      '',
    ].join('\n'));
    const started = await sh('bash', ['infra/prometheus.sh', 'start', '--port', String(promPort), '--config', config, '--dir', dir]);
    expect(started.code, started.out).toBe(0);
    prometheus = started.out.trim().split('\n').filter((l) => l.startsWith('http://')).pop()!;

    // Every process ready (consumers in their groups, producer connected) before any audio.
    for (const { port } of ports) {
      await waitFor(async () => {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
        return r?.status === 200 ? true : undefined;
      }, `/readyz on port ${port}`, 180_000, 250);
    }

    // A programme of two enrolled excerpts around a never-enrolled one, fed through the station's stdin,
    // which stays open (a live source) until the dashboard has been checked.
    const items = [];
    for (const t of [enrolled[0], tracksPerPackage(1, 5)[0], enrolled[5]]) {
      items.push({ path: t === enrolled[0] || t === enrolled[5] ? t : null, pcm: await decodeFile(join(MUSIC_DIR, t), { sampleRate: PIPELINE_SAMPLE_RATE }) });
    }
    const { pcm } = mixRadio(items, { sampleRate: PIPELINE_SAMPLE_RATE, excerptSeconds: 25, seed: 11 });
    monitor.child.stdin.write(encodeWav(pcm, PIPELINE_SAMPLE_RATE));

    // One record the scorer cannot read: a dead letter for the DLQ panel.
    const kafka = new Kafka({ brokers: testBrokers(), clientId: 'dashboard-test', logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: TOPICS.queries.name, messages: [{ key: 'dashboard-bad', value: Buffer.from('not a ciphertext') }] });
    await producer.disconnect();
  }, 900_000); // an enrolment, three processes joining their groups and Prometheus: minutes on a busy machine

  afterAll(async () => {
    monitor?.child.stdin.end();
    for (const p of processes) await p.stop();
    await sh('bash', ['infra/prometheus.sh', 'stop', '--dir', dir]);
    rmSync(dir, { recursive: true, force: true });
    if (savedLagInterval === undefined) delete process.env.BLINDEAR_LAG_INTERVAL_MS;
    else process.env.BLINDEAR_LAG_INTERVAL_MS = savedLagInterval;
  });

  it('every panel query returns data from the live processes', async () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThanOrEqual(12);
    const finite = (rs: PromResult[]): boolean => rs.some((r) => Number.isFinite(Number(r.value[1])));
    const missing = await waitFor(async () => {
      const empty: string[] = [];
      for (const q of queries) if (!finite(await query(prometheus, q.expr))) empty.push(`${q.panel}: ${q.expr}`);
      return empty.length === 0 ? empty : undefined;
    }, 'data for every panel', 300_000, 2000).catch(async () => {
      const empty: string[] = [];
      for (const q of queries) if (!finite(await query(prometheus, q.expr))) empty.push(`${q.panel}: ${q.expr}`);
      return empty;
    });
    expect(missing).toEqual([]);
    // A few values that mean something, beyond "there is a series".
    expect(Number((await query(prometheus, 'sum(blindear_source_connected{station="test-fm"})'))[0].value[1])).toBe(1);
    expect((await query(prometheus, 'blindear_dead_letters_total{code="BLINDEAR_ERR_MSG_SCHEMA"}')).length).toBeGreaterThan(0);
    const builds = await query(prometheus, 'count by (model_id, params_id) (blindear_build_info)');
    expect(builds).toHaveLength(1); // the workers and the client serve one model with one set of parameters
    // The plays were logged after their position checks passed; an honest server's answers refuse nothing.
    const checks = await query(prometheus, 'sum by (outcome) (blindear_play_checks_total)');
    expect(Number(checks.find((r) => r.metric.outcome === 'passed')?.value[1])).toBeGreaterThan(0);
    const refused = await query(prometheus, 'sum by (reason) (blindear_integrity_errors_total{reason=~"mac|range"})');
    expect(refused.map((r) => Number(r.value[1]))).toEqual([0, 0]);
  }, 600_000);

  it('every process\'s exposition passes promtool check metrics, and /healthz answers', async () => {
    for (const { port } of ports) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const checked = await sh('bash', ['infra/prometheus.sh', 'promtool', 'check', 'metrics'], text);
      expect(checked.code, checked.out).toBe(0);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
    }
  });

  it('the monitor finishes when its only source, stdin, ends', async () => {
    monitor!.child.stdin.end();
    expect(await monitor!.exited).toBe(0);
  }, 300_000);
});
