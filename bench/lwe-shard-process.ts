/**
 * One shard of a sharded LWE catalogue (bench/lwe-shards.ts): a process holding `rows` random 10-bit
 * weight rows of dimension d in a SIMD scan, answering queries from its parent over IPC with its part of
 * the result, its CPU ms for the scan and its resident memory.
 */
import { SimdScan } from '../pipeline/he/lwe-simd.js';
import { rng } from './util.js';

interface Init { rows: number; d: number; seed: number }
type Job = { type: 'score'; id: number; queries: Int32Array; Q: number } | { type: 'close' };

const send = (m: unknown): void => void process.send!(m);
const cpu = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

process.once('message', (init: Init) => {
  const r = rng(init.seed);
  const weights = new Int16Array(init.rows * init.d);
  for (let i = 0; i < weights.length; i++) weights[i] = Math.floor(r() * 1023) - 511;
  const scan = new SimdScan(weights, init.rows, init.d);
  send({ type: 'ready', rss: process.memoryUsage().rss });
  process.on('message', (job: Job) => {
    if (job.type === 'close') process.exit(0);
    const out = new Int32Array(job.Q * init.rows);
    const c0 = cpu();
    scan.matmul(job.queries, job.Q, out);
    send({ type: 'part', id: job.id, out, cpuMs: cpu() - c0, rss: process.memoryUsage().rss });
  });
});
