/**
 * A pool of worker threads identifying query PCM (query-worker.ts): feature extraction, encryption, the
 * encrypted scoring and the clear-text scoring are CPU-bound, so they run beside the main thread, which
 * decodes and distorts. Each worker has its own SEAL instance (pipeline/he/seal.ts: one per thread).
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { QueryOutcome } from './query-scorer.js';

export interface PoolWorkerInit {
  catalogDir: string;
}

export type PoolJob = { type: 'identify'; id: number; pcm: Float32Array } | { type: 'close' };

export type PoolReply =
  | { type: 'ready' }
  | { type: 'failed'; error: string }
  | { type: 'result'; id: number; outcome: QueryOutcome }
  | { type: 'error'; id: number; error: string };

/** Jobs posted ahead to a busy worker, so it never waits for the main thread between two queries. */
const IN_FLIGHT_PER_WORKER = 2;
/** Queries waiting in the main thread per worker before `capacity()` makes producers wait. */
const QUEUED_PER_WORKER = 8;

/**
 * The compiled worker script. Under vitest this module runs from its TypeScript source, and a worker
 * thread cannot load TypeScript: it then takes the build in dist/ (made by `npx tsc -p .`).
 */
function workerScript(): string {
  const here = fileURLToPath(import.meta.url);
  const beside = join(dirname(here), 'query-worker.js');
  if (here.endsWith('.js')) return beside;
  const repo = resolve(dirname(here), '..', '..');
  const built = join(repo, 'dist', relative(repo, dirname(here)), 'query-worker.js');
  if (!existsSync(built)) throw new Error(`${built} is missing: build with 'npx tsc -p .' first`);
  return built;
}

interface Pending {
  resolve(o: QueryOutcome): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  inFlight: Set<number>;
}

export class QueryPool {
  readonly size: number;
  #slots: Slot[];
  #queue: { id: number; pcm: Float32Array }[] = [];
  #pending = new Map<number, Pending>();
  #nextId = 0;
  #broken: Error | undefined;
  #waiters: (() => void)[] = [];

  private constructor(slots: Slot[]) {
    this.#slots = slots;
    this.size = slots.length;
    for (const slot of slots) {
      slot.worker.on('message', (m: PoolReply) => this.#onReply(slot, m));
      slot.worker.on('error', (err) => this.#fail(err));
      slot.worker.on('exit', (code) => { if (code !== 0) this.#fail(new Error(`query worker exited with code ${code}`)); });
    }
  }

  /** Starts `workers` threads on the catalogue and waits until each has its keys and encoded model. */
  static async start(catalogDir: string, workers: number): Promise<QueryPool> {
    const script = workerScript();
    const started = Array.from({ length: Math.max(1, workers) }, () => {
      const worker = new Worker(script, { workerData: { catalogDir } satisfies PoolWorkerInit });
      const ready = new Promise<void>((resolveReady, rejectReady) => {
        const onMessage = (m: PoolReply) => {
          if (m.type === 'ready') { worker.off('error', rejectReady); resolveReady(); }
          else if (m.type === 'failed') rejectReady(new Error(m.error));
        };
        worker.once('message', onMessage);
        worker.once('error', rejectReady);
      });
      return { worker, ready };
    });
    try {
      await Promise.all(started.map((s) => s.ready));
    } catch (err) {
      await Promise.all(started.map((s) => s.worker.terminate()));
      throw err;
    }
    return new QueryPool(started.map((s) => ({ worker: s.worker, inFlight: new Set() })));
  }

  /** Identifies one query on the next free worker. */
  identify(pcm: Float32Array): Promise<QueryOutcome> {
    if (this.#broken) return Promise.reject(this.#broken);
    const id = this.#nextId++;
    const done = new Promise<QueryOutcome>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#queue.push({ id, pcm });
    this.#dispatch();
    return done;
  }

  /**
   * Resolves once the queue has room: producers await it before each identify(), so the queries waiting
   * for a worker stay bounded however fast tracks are decoded and distorted.
   */
  capacity(): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#queue.length < this.size * QUEUED_PER_WORKER) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const slot = this.#slots.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a));
      if (slot.inFlight.size >= IN_FLIGHT_PER_WORKER) return;
      const job = this.#queue.shift()!;
      slot.inFlight.add(job.id);
      // Copied, not transferred: a query is ≤ a few MB, and the caller may reuse its excerpt.
      slot.worker.postMessage({ type: 'identify', id: job.id, pcm: job.pcm } satisfies PoolJob);
    }
    this.#wake();
  }

  #wake(): void {
    while (this.#waiters.length > 0 && (this.#broken || this.#queue.length < this.size * QUEUED_PER_WORKER)) this.#waiters.shift()!();
  }

  #onReply(slot: Slot, m: PoolReply): void {
    if (m.type !== 'result' && m.type !== 'error') return;
    slot.inFlight.delete(m.id);
    const p = this.#pending.get(m.id);
    this.#pending.delete(m.id);
    if (m.type === 'result') p?.resolve(m.outcome);
    else p?.reject(new Error(m.error));
    this.#dispatch();
  }

  #fail(err: Error): void {
    this.#broken ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#queue = [];
    this.#wake();
  }

  /** Lets the workers free their SEAL objects, then ends the threads. */
  async close(): Promise<void> {
    await Promise.all(this.#slots.map(async ({ worker }) => {
      worker.removeAllListeners('exit');
      const exited = new Promise<void>((r) => worker.once('exit', () => r()));
      worker.postMessage({ type: 'close' } satisfies PoolJob);
      // A worker whose port closed exits by itself; terminate() is the fallback after a short grace.
      const timer = setTimeout(() => { void worker.terminate(); }, 5000);
      await exited;
      clearTimeout(timer);
    }));
  }
}
