/**
 * Worker-thread entry of the query pool: one QueryScorer (one SEAL instance, one client session and one
 * scoring engine) per thread, answering the pool's jobs one at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { PoolReply, PoolJob, PoolWorkerInit } from './query-pool.js';
import { QueryScorer } from './query-scorer.js';

const port = parentPort;
if (!port) throw new Error('query-worker.js runs as a worker thread of QueryPool');
const { catalogDir } = workerData as PoolWorkerInit;
const post = (m: PoolReply): void => port.postMessage(m);
const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err));

try {
  const scorer = await QueryScorer.open(catalogDir);
  // SEAL's evaluation is synchronous, but decryption awaits its loader: jobs are chained so that two
  // never interleave on the thread's SEAL objects.
  let chain = Promise.resolve();
  port.on('message', (job: PoolJob) => {
    if (job.type === 'close') {
      chain = chain.then(() => { scorer.dispose(); port.close(); });
      return;
    }
    chain = chain.then(async () => {
      try {
        post({ type: 'result', id: job.id, outcome: await scorer.identify(job.pcm) });
      } catch (err) {
        post({ type: 'error', id: job.id, error: reason(err) });
      }
    });
  });
  post({ type: 'ready' });
} catch (err) {
  post({ type: 'failed', error: reason(err) });
}
