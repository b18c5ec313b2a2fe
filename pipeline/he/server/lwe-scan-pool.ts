/**
 * The LWE scan on worker threads: the quantised weights are split by rows into one contiguous range per
 * thread, every query goes to every thread, and each thread scans its rows (lwe-scan-thread.ts) while the
 * calling thread, a Kafka consumer that must heartbeat, only assembles the parts. The weights are handed
 * over in one SharedArrayBuffer; each thread keeps its rows resident in its own SIMD instance.
 *
 * Splitting by rows rather than giving each thread whole queries makes one query as fast as the cores
 * allow (the scan is memory-bound beyond the last-level cache, and each thread streams only its share),
 * and keeps one copy of the weights across the threads. One block of queries is scanned at a time: the
 * queries that arrive meanwhile (any sessions) wait and go together as the next block, one pass over the
 * weights for all of them, so under load the weights are streamed once per block instead of once per
 * query, and an idle pool adds no wait. A thread that fails or exits breaks the pool: every pending and
 * later scan rejects with that error.
 */
import { Worker } from 'node:worker_threads';
import { threadScript } from './thread-script.js';

/** What a scan thread is built from. */
export interface LweScanThreadInit {
  /** All C·d weights, row-major, in a SharedArrayBuffer; the thread scans rows [firstRow, firstRow + rows). */
  weights: Int16Array;
  dim: number;
  firstRow: number;
  rows: number;
  kernel: 'simd' | 'js';
}

export type LweScanJob = { type: 'scan'; id: number; x: Int32Array; queries: number };

export type LweScanReply =
  | { type: 'ready' }
  | { type: 'failed'; error: string }
  | { type: 'done'; id: number; out: Int32Array }
  | { type: 'error'; id: number; error: string };

interface Part {
  worker: Worker;
  firstRow: number;
  rows: number;
}

interface Request {
  x: Int32Array;
  queries: number;
  resolve(out: Int32Array): void;
  reject(err: Error): void;
}

/** A block in the threads: its requests, their scores as the threads' parts arrive. */
interface Block {
  requests: Request[];
  queries: number;
  out: Int32Array;
  left: number;
}

/** Most queries (windows) scanned in one block. */
export const LWE_BLOCK_QUERIES = 16;

export class LweScanPool {
  readonly #parts: Part[];
  readonly #classes: number;
  readonly #dim: number;
  readonly #waiting: Request[] = [];
  #block: (Block & { id: number }) | undefined;
  #nextId = 0;
  #broken: Error | undefined;
  #closed = false;

  private constructor(parts: Part[], classes: number, dim: number) {
    this.#parts = parts;
    this.#classes = classes;
    this.#dim = dim;
    for (const p of parts) {
      p.worker.on('message', (m: LweScanReply) => this.#onReply(p, m));
      p.worker.on('error', (err) => this.#fail(err));
      p.worker.on('exit', (code) => { if (!this.#closed) this.#fail(new Error(`LWE scan thread exited with code ${code}`)); });
    }
  }

  /** Starts min(threads, C) threads over `weights` (C × d, in a SharedArrayBuffer) and waits until each holds its rows. */
  static async start(weights: Int16Array, classes: number, dim: number, threads: number, kernel: 'simd' | 'js'): Promise<LweScanPool> {
    if (!(weights.buffer instanceof SharedArrayBuffer)) throw new TypeError('LweScanPool needs the weights in a SharedArrayBuffer');
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be ≥ 1, got ${threads}`);
    const script = threadScript('lwe-scan-thread.js');
    const n = Math.min(threads, classes);
    const started = Array.from({ length: n }, (_, i) => {
      const firstRow = Math.floor((i * classes) / n);
      const rows = Math.floor(((i + 1) * classes) / n) - firstRow;
      const worker = new Worker(script, { workerData: { weights, dim, firstRow, rows, kernel } satisfies LweScanThreadInit });
      const ready = new Promise<void>((resolve, reject) => {
        worker.once('message', (m: LweScanReply) => {
          worker.off('error', reject);
          if (m.type === 'ready') resolve();
          else reject(new Error(`LWE scan thread: ${m.type === 'failed' ? m.error : `unexpected ${m.type} before ready`}`));
        });
        worker.once('error', reject);
      });
      return { part: { worker, firstRow, rows }, ready };
    });
    const settled = await Promise.allSettled(started.map((s) => s.ready));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((s) => s.part.worker.terminate()));
      throw failed.reason;
    }
    return new LweScanPool(started.map((s) => s.part), classes, dim);
  }

  get size(): number {
    return this.#parts.length;
  }

  /** out[q·C + r] = W[r]·x_q mod 2^32 for the Q queries of x (Q × d words), scanned by every thread's rows. */
  matmul(x: Int32Array, queries: number): Promise<Int32Array> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (!Number.isInteger(queries) || queries < 1 || x.length !== queries * this.#dim) {
      return Promise.reject(new RangeError(`${x.length} words for ${queries} queries of ${this.#dim}`));
    }
    return new Promise<Int32Array>((resolve, reject) => {
      this.#waiting.push({ x, queries, resolve, reject });
      this.#next();
    });
  }

  /** Sends the waiting requests, up to LWE_BLOCK_QUERIES queries (at least one request), as one block. */
  #next(): void {
    if (this.#block || this.#waiting.length === 0 || this.#broken) return;
    const requests = [this.#waiting.shift()!];
    let queries = requests[0].queries;
    while (this.#waiting.length > 0 && queries + this.#waiting[0].queries <= LWE_BLOCK_QUERIES) {
      const r = this.#waiting.shift()!;
      requests.push(r);
      queries += r.queries;
    }
    const d = this.#dim;
    const x = requests.length === 1 ? requests[0].x : new Int32Array(queries * d);
    if (requests.length > 1) {
      let at = 0;
      for (const r of requests) {
        x.set(r.x, at);
        at += r.x.length;
      }
    }
    const id = this.#nextId++;
    this.#block = { id, requests, queries, out: new Int32Array(queries * this.#classes), left: this.#parts.length };
    // Copied to each thread (d words per query): the callers keep their buffers.
    for (const p of this.#parts) p.worker.postMessage({ type: 'scan', id, x, queries } satisfies LweScanJob);
  }

  #onReply(part: Part, m: LweScanReply): void {
    if (m.type !== 'done' && m.type !== 'error') return;
    const b = this.#block;
    if (!b || b.id !== m.id) return;
    if (m.type === 'error') {
      this.#fail(new Error(`LWE scan thread: ${m.error}`));
      return;
    }
    const C = this.#classes;
    for (let q = 0; q < b.queries; q++) b.out.set(m.out.subarray(q * part.rows, (q + 1) * part.rows), q * C + part.firstRow);
    if (--b.left > 0) return;
    this.#block = undefined;
    let q0 = 0;
    for (const r of b.requests) {
      r.resolve(b.requests.length === 1 ? b.out : b.out.slice(q0 * C, (q0 + r.queries) * C));
      q0 += r.queries;
    }
    this.#next();
  }

  #fail(err: Error): void {
    this.#broken ??= err;
    for (const r of [...(this.#block?.requests ?? []), ...this.#waiting]) r.reject(this.#broken);
    this.#block = undefined;
    this.#waiting.length = 0;
  }

  /** Ends the threads; later scans reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(new Error('LWE scan pool used after close()'));
    await Promise.all(this.#parts.map((p) => p.worker.terminate()));
  }
}
