/**
 * Scenario 7: a catalogue beyond one process. An LWE catalogue of C classes (random 10-bit weights,
 * d = 2048) is split by rows into shards, each held by a process of its own (a "worker group" of one);
 * a query fans out to every shard and the parts are merged by concatenation, as a client merges the
 * parts of sharded results (the hint is split the same way, so each part decrypts on its own).
 * Reported: wall s per query (all shards in parallel), each shard's CPU ms per query and resident
 * memory, and what a client sends and receives.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAverage, mdTable, now, rng, round } from './util.js';

interface Part { type: 'part'; id: number; out: Int32Array; cpuMs: number; rss: number }

export interface ShardRow {
  C: number;
  shards: number;
  batch: number;
  wallSecondsPerQuery: number;
  shardCpuMsPerQuery: number[];
  shardRssMiB: number[];
  nsPerMultiplyAddPerCore: number;
  streamsPerCore: number;
  resultMiBPerQuery: number;
  hintGiB: number;
  buildSeconds: number;
  loadavg: number[];
}

async function startShard(rows: number, d: number, seed: number): Promise<{ child: ChildProcess; rss: number }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'lwe-shard-process.js');
  const child = fork(script, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise<number>((resolve, reject) => {
    child.once('message', (m: { type: string; rss: number }) => resolve(m.rss));
    child.once('exit', (code) => reject(new Error(`shard exited with code ${code}`)));
  });
  child.send({ rows, d, seed });
  return { child, rss: await ready };
}

export async function runLweShards(opts: { C: number; shards: number; d: number; queries: number; batch: number; log: (s: string) => void }): Promise<{ rows: ShardRow[]; markdown: string }> {
  const { C, d } = opts;
  const per = Math.ceil(C / opts.shards);
  let t = now();
  const shards = await Promise.all(Array.from({ length: opts.shards }, (_, k) => startShard(Math.min(per, C - k * per), d, 1000 + k)));
  const buildSeconds = (now() - t) / 1000;
  opts.log(`shards: ${opts.shards} × ${per} rows built in ${round(buildSeconds, 0)} s`);
  const rows: ShardRow[] = [];
  try {
    const r = rng(7);
    let id = 0;
    const ask = (k: number, queries: Int32Array, Q: number): Promise<Part> => new Promise((resolve) => {
      const my = id++;
      const onMessage = (m: Part) => { if (m.id === my) { shards[k].child.off('message', onMessage); resolve(m); } };
      shards[k].child.on('message', onMessage);
      shards[k].child.send({ type: 'score', id: my, queries, Q });
    });
    for (const batch of [1, opts.batch]) {
      const queries = Int32Array.from({ length: batch * d }, () => (r() * 2 ** 32) | 0);
      await Promise.all(shards.map((_, k) => ask(k, queries, batch))); // warm-up
      const cpu = shards.map(() => 0);
      const rss = shards.map(() => 0);
      const rounds = Math.max(1, Math.ceil(opts.queries / batch));
      t = now();
      for (let i = 0; i < rounds; i++) {
        const parts = await Promise.all(shards.map((_, k) => ask(k, queries, batch)));
        // The client's merge: query q's scores are the shards' parts of q, in shard order.
        const merged = new Int32Array(batch * C);
        for (let q = 0; q < batch; q++) {
          let at = q * C;
          parts.forEach((p) => { const n = p.out.length / batch; merged.set(p.out.subarray(q * n, (q + 1) * n), at); at += n; });
        }
        parts.forEach((p, k) => { cpu[k] += p.cpuMs; rss[k] = Math.max(rss[k], p.rss); });
      }
      const wallSecondsPerQuery = (now() - t) / 1000 / (rounds * batch);
      const shardCpuMsPerQuery = cpu.map((c) => round(c / (rounds * batch), 1));
      const coreMs = shardCpuMsPerQuery.reduce((a, b) => a + b, 0);
      const row: ShardRow = {
        C, shards: opts.shards, batch,
        wallSecondsPerQuery: round(wallSecondsPerQuery, 3),
        shardCpuMsPerQuery,
        shardRssMiB: rss.map((b) => round(b / 2 ** 20, 0)),
        nsPerMultiplyAddPerCore: round((coreMs * 1e6) / (C * d), 3),
        streamsPerCore: round(15_000 / coreMs, 1),
        resultMiBPerQuery: round((C * 4) / 2 ** 20, 2),
        hintGiB: round((C * 1024 * 4) / 2 ** 30, 2),
        buildSeconds: round(buildSeconds, 0),
        loadavg: loadAverage(),
      };
      opts.log(`shards C=${C} batch ${batch}: ${row.wallSecondsPerQuery} s per query, shard CPU ${shardCpuMsPerQuery.join(' / ')} ms`);
      rows.push(row);
    }
  } finally {
    for (const s of shards) { s.child.send({ type: 'close' }); }
  }
  const markdown = [
    '## 7. A sharded LWE catalogue (one process per shard)',
    '',
    `C = ${C} random classes × d = ${d} (10-bit weights) split by rows over ${opts.shards} shard processes on this machine; each query fans out to every shard, ` +
      'the parts are merged by concatenation. Wall s per query with the shards in parallel; CPU ms and peak RSS per shard; ns per multiply-add and streams per core from the shards\' CPU time in all. ' +
      'A client receives 4 bytes per class per query and holds a hint of 4 KiB per class (downloaded once).',
    '',
    mdTable(
      ['C', 'shards', 'batch', 'wall s / query', 'shard CPU ms / query', 'shard RSS MiB', 'ns / multiply-add (core)', 'real-time streams / core', 'result MiB / query', 'hint GiB', 'build s', 'load average after'],
      rows.map((r) => [r.C, r.shards, r.batch, r.wallSecondsPerQuery, r.shardCpuMsPerQuery.join(' / '), r.shardRssMiB.join(' / '), r.nsPerMultiplyAddPerCore, r.streamsPerCore, r.resultMiBPerQuery, r.hintGiB, r.buildSeconds, r.loadavg.join(' ')]),
    ),
  ].join('\n');
  return { rows, markdown };
}
