/**
 * Worker-thread entry of the scoring pool (scoring-pool.ts): one in-thread ScoringEngine on the shared
 * weights, session keys by the pool's key ids, jobs answered one at a time in arrival order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BlindearError, isBlindearError } from '../../errors.js';
import { ScoringEngine } from './engine.js';
import type { ScoringThreadInit, ScoringThreadJob, ScoringThreadReply } from './scoring-pool.js';
import type { SessionKeys } from './session-keys.js';

const port = parentPort;
if (!port) throw new Error('scoring-thread.js runs as a worker thread of ScoringPool');
const init = workerData as ScoringThreadInit;
const post = (m: ScoringThreadReply, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err));

try {
  const engine = await ScoringEngine.create(
    init.params,
    { classes: init.classes, dim: init.dim, weights: init.weights, bias: init.bias },
    { maxQueryBytes: init.maxQueryBytes, maxKeyBytes: init.maxKeyBytes, maxShardBytes: init.maxShardBytes, threads: 0 },
  );
  const sessions = new Map<number, SessionKeys>();
  // Validation awaits the thread's isolated parser: jobs are chained so two never interleave on the
  // engine's SEAL objects.
  let chain = Promise.resolve();
  const run = async (job: Exclude<ScoringThreadJob, { type: 'drop' | 'close' }>): Promise<void> => {
    try {
      if (job.type === 'keys') {
        sessions.set(job.keys, await engine.loadSessionKeys(job.bytes));
        post({ type: 'done', id: job.id, rejectedParses: engine.rejectedParses });
      } else {
        const keys = sessions.get(job.keys);
        if (!keys) throw new BlindearError('BLINDEAR_ERR_SESSION_UNKNOWN', 'session keys were released while a query was queued');
        const parts = await engine.score(keys, job.query);
        // Each part owns its buffer (SEAL's saveArray): hand them over instead of copying.
        const owned = parts.every((p) => p.byteOffset === 0 && p.byteLength === p.buffer.byteLength) && new Set(parts.map((p) => p.buffer)).size === parts.length;
        post({ type: 'done', id: job.id, parts, rejectedParses: engine.rejectedParses }, owned ? parts.map((p) => p.buffer as ArrayBuffer) : []);
      }
    } catch (err) {
      const coded = isBlindearError(err);
      post({ type: 'error', id: job.id, error: reason(err), code: coded ? err.code : undefined, fatal: !coded, rejectedParses: engine.rejectedParses });
    }
  };
  port.on('message', (job: ScoringThreadJob) => {
    if (job.type === 'close') {
      chain = chain.then(() => {
        for (const k of sessions.values()) k.dispose();
        sessions.clear();
        engine.dispose();
        port.close();
      });
    } else if (job.type === 'drop') {
      chain = chain.then(() => {
        sessions.get(job.keys)?.dispose();
        sessions.delete(job.keys);
      });
    } else {
      chain = chain.then(() => run(job));
    }
  });
  post({ type: 'ready', footprint: engine.footprint });
} catch (err) {
  post({ type: 'failed', error: reason(err), code: isBlindearError(err) ? err.code : undefined });
}
