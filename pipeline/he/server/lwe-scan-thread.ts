/**
 * Worker-thread entry of the LWE scan pool (lwe-scan-pool.ts): this thread's rows of the shared weights,
 * resident in a SIMD instance of its own (or scanned in plain JS where WASM SIMD is missing); each job is a
 * block of queries, answered with this thread's rows of their scores, in arrival order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SimdScan } from '../lwe-simd.js';
import { matmulMod32 } from '../lwe.js';
import type { LweScanJob, LweScanReply, LweScanThreadInit } from './lwe-scan-pool.js';

const port = parentPort;
if (!port) throw new Error('lwe-scan-thread.js runs as a worker thread of LweScanPool');
const init = workerData as LweScanThreadInit;
const post = (m: LweScanReply, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err));

try {
  const { dim: d, firstRow, rows } = init;
  const mine = init.weights.subarray(firstRow * d, (firstRow + rows) * d);
  const simd = init.kernel === 'simd' ? new SimdScan(mine, rows, d) : undefined;
  port.on('message', (job: LweScanJob) => {
    try {
      const out = new Int32Array(job.queries * rows);
      if (simd) simd.matmul(job.x, job.queries, out);
      else matmulMod32(mine, rows, d, job.x, job.queries, out);
      post({ type: 'done', id: job.id, out }, [out.buffer]);
    } catch (err) {
      post({ type: 'error', id: job.id, error: reason(err) });
    }
  });
  post({ type: 'ready' });
} catch (err) {
  post({ type: 'failed', error: reason(err) });
}
