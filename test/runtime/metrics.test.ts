// Operator metrics without a broker: names and types Prometheus accepts, the station helpers, build
// info, /healthz and /readyz, and the lag arithmetic. (promtool itself runs on live expositions in
// test/ops/dashboard.test.ts.)
import { describe, expect, it } from 'vitest';
import { lagOf } from '../../pipeline/runtime/consumer-lag.js';
import { createMetrics, serveMetrics, setBuildInfo, stationMetrics } from '../../pipeline/runtime/metrics.js';
import { observePredictions } from '../../pipeline/runtime/prediction-metrics.js';
import { Readiness } from '../../pipeline/runtime/readiness.js';
import { VERSION } from '../../pipeline/version.js';
import type { Prediction } from '../../schemas/messages.js';

/** `# TYPE name kind` lines of an exposition. */
const types = (text: string): Map<string, string> =>
  new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));

describe('metrics exposition', () => {
  it('keeps the existing names, adds the operator ones, and names only counters *_total', async () => {
    const m = createMetrics();
    stationMetrics(m, 'fm1');
    setBuildInfo(m, { version: '1.2.3', modelId: 'm1', paramsId: 'p1' });
    const t = types(await m.registry.metrics());
    for (const [name, kind] of [
      ['blindear_messages_total', 'counter'], ['blindear_dead_letters_total', 'counter'], ['blindear_audio_seconds_total', 'counter'],
      ['blindear_fhe_evaluation_seconds', 'histogram'], ['blindear_integrity_errors_total', 'counter'],
      ['blindear_build_info', 'gauge'], ['blindear_consumer_lag_records', 'gauge'], ['blindear_source_connected', 'gauge'],
      ['blindear_source_reconnects_total', 'counter'], ['blindear_source_last_audio_timestamp_seconds', 'gauge'],
      ['blindear_plays_total', 'counter'], ['blindear_unknown_windows_total', 'counter'],
      ['blindear_window_decision_latency_seconds', 'histogram'], ['process_resident_memory_bytes', 'gauge'], ['process_cpu_seconds_total', 'counter'],
    ]) expect(t.get(name), name).toBe(kind);
    for (const [name, kind] of t) {
      if (name.endsWith('_total')) expect(kind, `${name} ends in _total`).toBe('counter');
    }
    expect(t.has('nodejs_active_handles')).toBe(true);
  });

  it('build info is one series with value 1', async () => {
    const m = createMetrics();
    setBuildInfo(m, { version: VERSION, modelId: 'a', paramsId: 'b' });
    setBuildInfo(m, { version: VERSION, modelId: 'c', paramsId: 'd' });
    const text = await m.registry.metrics();
    expect(text).toContain(`blindear_build_info{version="${VERSION}",model_id="c",params_id="d"} 1`);
    expect(text).not.toContain('model_id="a"');
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('station helpers and the play tracker count what a station did', async () => {
    const m = createMetrics();
    const s = stationMetrics(m, 'fm1');
    s.connected(true);
    s.audio(1_700_000_000_000);
    const o = observePredictions(s);
    const p = (outcome: 'match' | 'unknown', path: string | null, final = false): Prediction => ({
      session: 's1', fromSeq: 0, toSeq: 1, audioStartSeconds: 0, audioEndSeconds: 15, outcome, final,
      match: path ? { path, title: path, confidence: 1, offsetSeconds: 0 } : null, latencyMs: 1500, decidedAtMs: 10_000,
    });
    for (const x of [p('match', 'a'), p('match', 'a'), p('unknown', null), p('match', 'b'), p('match', 'c', true)]) o.observe(x);
    const text = await m.registry.metrics();
    expect(text).toContain('blindear_source_connected{station="fm1"} 1');
    expect(text).toContain('blindear_source_last_audio_timestamp_seconds{station="fm1"} 1700000000');
    expect(text).toContain('blindear_plays_total{station="fm1",event="started"} 3');
    expect(text).toContain('blindear_plays_total{station="fm1",event="ended"} 3');
    expect(text).toContain('blindear_unknown_windows_total{station="fm1"} 1');
    expect(text).toContain('blindear_window_decision_latency_seconds_count 5');
    expect(text).toContain('blindear_window_decision_latency_seconds_bucket{le="2"} 5');
    expect(text).toContain('blindear_window_decision_latency_seconds_bucket{le="1"} 0');
  });
});

describe('/healthz and /readyz', () => {
  it('ready only when every check passes', async () => {
    const m = createMetrics();
    const { server, port } = await serveMetrics(m, 0, '127.0.0.1');
    try {
      const get = (path: string): Promise<Response> => fetch(`http://127.0.0.1:${port}${path}`);
      expect((await get('/healthz')).status).toBe(200);
      expect((await get('/readyz')).status).toBe(503); // no check registered yet
      m.readiness.set('producer', true);
      m.readiness.set('consumer:scorer', false);
      const notYet = await get('/readyz');
      expect(notYet.status).toBe(503);
      expect(await notYet.json()).toEqual({ ready: false, checks: { producer: true, 'consumer:scorer': false } });
      m.readiness.set('consumer:scorer', true);
      expect((await get('/readyz')).status).toBe(200);
      expect((await get('/metrics')).headers.get('content-type')).toMatch(/text\/plain/);
      expect((await get('/nope')).status).toBe(404);
    } finally {
      server.close();
    }
  });

  it('a probe that throws counts as not ready', async () => {
    const r = new Readiness();
    r.setReady(true);
    r.register('broken', () => { throw new Error('x'); });
    expect(await r.check()).toEqual({ ready: false, checks: { process: true, broken: false } });
  });
});

describe('consumer lag', () => {
  it('is the end offset minus the committed one, or everything retained before a first commit', () => {
    const ends = [{ partition: 1, low: '5', high: '40' }, { partition: 0, low: '0', high: '10' }];
    expect(lagOf('t', [{ partition: 0, offset: '7' }, { partition: 1, offset: '-1' }], ends)).toEqual([
      { topic: 't', partition: 0, lag: 3 },
      { topic: 't', partition: 1, lag: 35 },
    ]);
    expect(lagOf('t', [{ partition: 0, offset: '12' }], [{ partition: 0, low: '0', high: '10' }])[0].lag).toBe(0);
  });
});
