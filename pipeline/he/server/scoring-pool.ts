/**
 * The scoring engine's worker threads: each thread runs an in-thread ScoringEngine of its own (its own
 * SEAL instance, its own encoded weights, its own copy of every loaded session's Galois keys), so the
 * thread that owns the pool — a Kafka consumer that must heartbeat — never runs SEAL. The model's weights
 * are handed over in one SharedArrayBuffer, not copied per thread.
 *
 * A query goes to the thread with the fewest queries in flight; a thread answers its jobs one at a time.
 * Session keys are loaded (and validated) in every thread before the handle is returned, so any thread
 * can score any session. Coded errors (BlindearError) cross back with their code; anything else (a SEAL
 * abort, a thread that died) breaks the pool, and every later call rejects with that error.
 */
import { Worker } from 'node:worker_threads';
import { BlindearError, ERROR_CODES, type ErrorCode } from '../../errors.js';
import type { LinearModel } from '../../features/types.js';
import type { HeParams } from '../../../schemas/he.js';
import { threadScript } from './thread-script.js';

/** What a scoring thread is built from. */
export interface ScoringThreadInit {
  params: HeParams;
  classes: number;
  dim: number;
  /** C·d float32 weights, row-major, in a SharedArrayBuffer. */
  weights: Float32Array;
  bias: Float32Array;
  maxQueryBytes?: number;
  maxKeyBytes?: number;
  maxShardBytes?: number;
}

export type ScoringThreadJob =
  | { type: 'keys'; id: number; keys: number; bytes: Uint8Array }
  | { type: 'score'; id: number; keys: number; query: Uint8Array }
  | { type: 'drop'; keys: number }
  | { type: 'close' };

export interface ThreadFootprint {
  plaintexts: number;
  bytes: number;
  shards: number;
}

export type ScoringThreadReply =
  | { type: 'ready'; footprint: ThreadFootprint }
  | { type: 'failed'; error: string; code?: ErrorCode }
  | { type: 'done'; id: number; parts?: Uint8Array[]; rejectedParses: number }
  | { type: 'error'; id: number; error: string; code?: ErrorCode; fatal: boolean; rejectedParses: number };

/** A coded error from a thread, rebuilt with its code (the runtime routes by code). */
export function rebuildError(code: ErrorCode | undefined, message: string): Error {
  if (!code) return new Error(message);
  const prefix = `${ERROR_CODES[code].message}: `;
  if (message.startsWith(prefix)) return new BlindearError(code, message.slice(prefix.length));
  return new BlindearError(code, message === ERROR_CODES[code].message ? undefined : message);
}

function shared(a: Float32Array): Float32Array {
  const out = new Float32Array(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

interface Pending {
  resolve(parts: Uint8Array[] | undefined): void;
  reject(err: Error): void;
}

interface Thread {
  worker: Worker;
  inFlight: number;
  rejectedParses: number;
}

export class ScoringPool {
  readonly #threads: Thread[];
  readonly #pending = new Map<number, Pending>();
  readonly footprint: ThreadFootprint;
  #nextId = 0;
  #nextKeys = 0;
  #broken: Error | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(threads: Thread[], footprint: ThreadFootprint) {
    this.#threads = threads;
    this.footprint = footprint;
    for (const t of threads) {
      t.worker.on('message', (m: ScoringThreadReply) => this.#onReply(t, m));
      t.worker.on('error', (err) => this.#fail(err));
      t.worker.on('exit', (code) => { if (!this.#closed) this.#fail(new Error(`scoring thread exited with code ${code}`)); });
    }
  }

  /** Starts `threads` threads and waits until each has encoded the model. */
  static async start(params: HeParams, model: LinearModel, threads: number, opts: { maxQueryBytes?: number; maxKeyBytes?: number; maxShardBytes?: number }): Promise<ScoringPool> {
    const script = threadScript('scoring-thread.js');
    const init: ScoringThreadInit = {
      params, classes: model.classes, dim: model.dim, weights: shared(model.weights), bias: Float32Array.from(model.bias), ...opts,
    };
    const started = Array.from({ length: threads }, () => {
      const worker = new Worker(script, { workerData: init });
      const ready = new Promise<ThreadFootprint>((resolveReady, rejectReady) => {
        worker.once('message', (m: ScoringThreadReply) => {
          worker.off('error', rejectReady);
          if (m.type === 'ready') resolveReady(m.footprint);
          else if (m.type === 'failed') rejectReady(rebuildError(m.code, m.error));
          else rejectReady(new Error(`scoring thread: unexpected ${m.type} before ready`));
        });
        worker.once('error', rejectReady);
      });
      return { worker, ready };
    });
    const footprints = await Promise.allSettled(started.map((s) => s.ready));
    const failed = footprints.find((f): f is PromiseRejectedResult => f.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((s) => s.worker.terminate()));
      throw failed.reason;
    }
    const first = (footprints[0] as PromiseFulfilledResult<ThreadFootprint>).value;
    return new ScoringPool(started.map((s) => ({ worker: s.worker, inFlight: 0, rejectedParses: 0 })), first);
  }

  get size(): number {
    return this.#threads.length;
  }

  /** Malformed inputs rejected by the threads' isolated parsers (their retired instances), in all. */
  get rejectedParses(): number {
    return this.#threads.reduce((n, t) => n + t.rejectedParses, 0);
  }

  /**
   * Validates and loads a session's key bytes in every thread; resolves to the pool's handle for them,
   * and a release function that frees them in every thread.
   */
  async loadKeys(bytes: Uint8Array): Promise<{ id: number; release(): void }> {
    const keys = this.#nextKeys++;
    const loads = this.#threads.map((t) => this.#post(t, (id) => ({ type: 'keys', id, keys, bytes })));
    const settled = await Promise.allSettled(loads);
    const release = () => {
      if (this.#broken || this.#closed) return;
      for (const t of this.#threads) t.worker.postMessage({ type: 'drop', keys } satisfies ScoringThreadJob);
    };
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      release();
      throw failed.reason;
    }
    return { id: keys, release };
  }

  /** Scores one query under loaded keys on the least busy thread. */
  async score(keys: number, query: Uint8Array): Promise<Uint8Array[]> {
    const t = this.#threads.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    return (await this.#post(t, (id) => ({ type: 'score', id, keys, query }))) ?? [];
  }

  #post(t: Thread, job: (id: number) => ScoringThreadJob): Promise<Uint8Array[] | undefined> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#closed) return Promise.reject(new Error('ScoringEngine used after dispose()'));
    const id = this.#nextId++;
    const done = new Promise<Uint8Array[] | undefined>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    t.inFlight++;
    // Copied, not transferred: the caller keeps its bytes (a query is tens of KiB).
    t.worker.postMessage(job(id));
    return done;
  }

  #onReply(t: Thread, m: ScoringThreadReply): void {
    if (m.type !== 'done' && m.type !== 'error') return;
    t.inFlight--;
    t.rejectedParses = m.rejectedParses;
    const p = this.#pending.get(m.id);
    this.#pending.delete(m.id);
    if (m.type === 'done') p?.resolve(m.parts);
    else {
      const err = rebuildError(m.code, m.error);
      if (m.fatal) this.#fail(err);
      p?.reject(err);
    }
  }

  #fail(err: Error): void {
    this.#broken ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  /** Lets every thread free its SEAL objects, then ends the threads. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#threads.map(async ({ worker }) => {
      const exited = new Promise<void>((r) => worker.once('exit', () => r()));
      worker.postMessage({ type: 'close' } satisfies ScoringThreadJob);
      // A thread whose port closed exits by itself; terminate() is the fallback after a short grace.
      const timer = setTimeout(() => { void worker.terminate(); }, 5000);
      await exited;
      clearTimeout(timer);
    }));
    this.#fail(new Error('ScoringEngine used after dispose()'));
  }
}
