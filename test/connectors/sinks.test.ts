import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createJsonlSink } from '../../connectors/jsonl-sink.js';
import { createTextSink } from '../../connectors/text-sink.js';
import type { Prediction } from '../../schemas/messages.js';
import { createWebhookSink } from '../../connectors/webhook-sink.js';

const fast = { retries: 4, initialRetryTimeMs: 5, maxRetryTimeMs: 20 };

describe('delivery sinks', () => {
  const servers: ReturnType<typeof createServer>[] = [];
  afterEach(() => { for (const s of servers.splice(0)) s.close(); });

  /** A real HTTP receiver answering with the given statuses in turn; records the bodies it accepted. */
  async function receiver(statuses: number[]): Promise<{ url: string; bodies: unknown[]; hits: () => number }> {
    const bodies: unknown[] = [];
    let hits = 0;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        const status = statuses[Math.min(hits++, statuses.length - 1)];
        if (status === 200) bodies.push(JSON.parse(body));
        res.statusCode = status;
        res.end();
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies, hits: () => hits };
  }

  it('webhook: retries 5xx until accepted, delivering the record once', async () => {
    const r = await receiver([503, 500, 200]);
    await createWebhookSink({ url: r.url, retry: fast }).write({ a: 1 });
    expect(r.hits()).toBe(3);
    expect(r.bodies).toEqual([{ a: 1 }]);
  });

  it('webhook: a 4xx refusal fails at once with the code, unretried', async () => {
    const r = await receiver([422]);
    await expect(createWebhookSink({ url: r.url, retry: fast }).write({ a: 1 })).rejects.toMatchObject({ code: 'BLINDEAR_ERR_SINK_DELIVERY', retriable: false });
    expect(r.hits()).toBe(1);
  });

  it('webhook: an unreachable receiver fails after the retries with the code', async () => {
    const r = await receiver([200]);
    servers.splice(0).forEach((s) => s.close());
    await expect(createWebhookSink({ url: r.url, retry: { ...fast, retries: 1 } }).write({ a: 1 })).rejects.toMatchObject({ code: 'BLINDEAR_ERR_SINK_DELIVERY' });
  });

  it('jsonl: one JSON object per line', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c) => { text += c; });
    const sink = createJsonlSink<{ n: number }>(out);
    await sink.write({ n: 1 });
    await sink.write({ n: 2 });
    expect(text).toBe('{"n":1}\n{"n":2}\n');
  });

  it('text: one line per decision, and the end marker (the last decision again, final) as the end', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c) => { text += c; });
    const sink = createTextSink(out);
    const p = (fromSeq: number, toSeq: number, final: boolean): Prediction => ({
      session: 's-1', fromSeq, toSeq, audioStartSeconds: fromSeq * 15, audioEndSeconds: toSeq * 15 + 15, outcome: 'unknown', match: null, final, latencyMs: 2000, decidedAtMs: 0,
    });
    await sink.write(p(0, 1, false));
    await sink.write(p(1, 2, false));
    await sink.write(p(1, 2, true));
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain('15.0-   45.0 s  unknown');
    expect(lines[2].trim()).toBe('end of the stream');
    // A final decision over new windows is a decision: printed as one.
    text = '';
    await sink.write(p(2, 3, true));
    expect(text).toContain('30.0-   60.0 s  unknown');
  });
});
