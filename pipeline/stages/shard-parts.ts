/**
 * The decider's waiting room for a sharded catalogue's scores: each shard's worker group answers a query
 * with the scores of its classes, and the query is decided once every shard has answered. A part is
 * checked against the client's own catalogue before it is kept (shard count, index and class range from
 * the catalogue's shard list, never from the record), its decrypted scores are kept in memory, and its
 * record's offset is held (`heldOffset`): the consumer commits no further, so after a crash or a
 * rebalance the instance that gets the partition reads the parts again. Bounded in time and space: a
 * query whose shards have not all answered within `waitMs`, or that a later window of its session
 * overtook, is given up (its parts dead-lettered as BLINDEAR_ERR_SCORES_INCOMPLETE, the reason naming
 * the missing shards); parts beyond the bounds are refused.
 */
import type { ShardRange } from '../../schemas/catalog.js';
import type { ScoresShard } from '../../schemas/messages.js';
import { BlindearError } from '../errors.js';
import type { Inbound } from '../runtime/stage.js';

export interface ShardWaitLimits {
  /** How long a query waits for its last shard before its parts are dead-lettered. */
  waitMs: number;
  /** Queries of one session waiting at once. */
  perSession: number;
  /** Bytes of decrypted scores kept in all. */
  totalBytes: number;
}

export const DEFAULT_SHARD_WAIT: ShardWaitLimits = { waitMs: 30_000, perSession: 64, totalBytes: 256 * 1024 * 1024 };

interface Waiting {
  session: string;
  seq: number;
  since: number;
  /** Per shard index: the part's record and its decrypted scores (one vector per window). */
  parts: Map<number, { msg: Inbound<'scores'>; scores: Float64Array[] }>;
  bytes: number;
}

/** Parts given up on, with the reason to dead-letter them with. Their offsets stay held until `release()`. */
export interface GivenUp {
  parts: Inbound<'scores'>[];
  err: BlindearError;
  /** Call once their dead letters are sent: the consumer may then commit past them. */
  release(): void;
}

export class ShardParts {
  private readonly waiting = new Map<string, Waiting>();
  /** Given up, their dead letters not sent yet: still held. */
  private readonly leaving = new Set<Waiting>();
  private bytes = 0;

  constructor(private readonly plan: readonly ShardRange[], private readonly limits: ShardWaitLimits = DEFAULT_SHARD_WAIT) {}

  get shards(): number {
    return this.plan.length;
  }

  /** Queries waiting for a shard now. */
  get size(): number {
    return this.waiting.size;
  }

  /**
   * The part's tag checked against this client's catalogue: the record must say it is one of this
   * catalogue's shards, with that shard's classes (BLINDEAR_ERR_SCORES_FORGED otherwise).
   */
  check(tag: ScoresShard | undefined): ShardRange & { index: number } {
    if (!tag) throw new BlindearError('BLINDEAR_ERR_SCORES_FORGED', `scores of the whole catalogue, which this client has in ${this.plan.length} shards`);
    const want = this.plan[tag.index];
    if (tag.count !== this.plan.length || !want) throw new BlindearError('BLINDEAR_ERR_SCORES_FORGED', `part of shard ${tag.index} of ${tag.count}; this catalogue has ${this.plan.length} shards`);
    if (tag.firstClass !== want.firstClass || tag.classes !== want.classes) {
      throw new BlindearError('BLINDEAR_ERR_SCORES_FORGED', `shard ${tag.index} says classes ${tag.firstClass}+${tag.classes}, this catalogue's are ${want.firstClass}+${want.classes}`);
    }
    return { index: tag.index, ...want };
  }

  private static key(session: string, seq: number, count: number): string {
    return `${session}\u0000${seq}\u0000${count}`;
  }

  /**
   * Keeps a checked, decrypted part. Returns the query's merged scores (every class, one vector per
   * window) once every shard has answered, and the session's older queries this one overtook (given up).
   */
  add(msg: Inbound<'scores'>, index: number, scores: Float64Array[], now: number): { merged?: Float64Array[]; givenUp: GivenUp[]; duplicate: boolean } {
    const { session, seq, count } = msg.envelope;
    const key = ShardParts.key(session, seq, count);
    let w = this.waiting.get(key);
    if (w?.parts.has(index)) return { givenUp: [], duplicate: true }; // a redelivery: the first part stays
    const bytes = scores.reduce((n, s) => n + s.byteLength, 0);
    if (!w) {
      let mine = 0;
      for (const o of this.waiting.values()) if (o.session === session) mine++;
      if (mine >= this.limits.perSession) throw new BlindearError('BLINDEAR_ERR_SCORES_INCOMPLETE', `${session}: ${mine} queries already wait for shards`);
    }
    if (this.bytes + bytes > this.limits.totalBytes) throw new BlindearError('BLINDEAR_ERR_SCORES_INCOMPLETE', `parts waiting for their shards hold ${this.bytes} bytes already`);
    if (!w) {
      w = { session, seq, since: now, parts: new Map(), bytes: 0 };
      this.waiting.set(key, w);
    }
    w.parts.set(index, { msg, scores });
    w.bytes += bytes;
    this.bytes += bytes;
    if (w.parts.size < this.plan.length) return { givenUp: [], duplicate: false };
    this.remove(key, w);
    const C = this.plan.reduce((n, r) => n + r.classes, 0);
    // One vector per window and query hypothesis: every part decrypted the same number.
    const merged = Array.from({ length: scores.length }, () => new Float64Array(C));
    for (const [i, part] of w.parts) part.scores.forEach((s, k) => merged[k].set(s, this.plan[i].firstClass));
    // Windows decided now make the session's earlier queries still waiting useless: give them up.
    const givenUp: GivenUp[] = [];
    for (const [k, o] of this.waiting) {
      if (o.session === session && o.seq < seq) {
        this.remove(k, o);
        givenUp.push(this.giveUp(o, `windows from ${seq} were decided first`));
      }
    }
    return { merged, givenUp, duplicate: false };
  }

  /** Queries that waited longer than the bound: given up. */
  expired(now: number): GivenUp[] {
    const out: GivenUp[] = [];
    for (const [k, w] of this.waiting) {
      if (now - w.since >= this.limits.waitMs) {
        this.remove(k, w);
        out.push(this.giveUp(w, `waited ${now - w.since} ms`));
      }
    }
    return out;
  }

  /** Lowest offset of `partition` still waiting (the consumer commits no further). */
  heldOffset(partition: number): string | undefined {
    let low: bigint | undefined;
    for (const w of [...this.waiting.values(), ...this.leaving]) {
      for (const { msg } of w.parts.values()) {
        if (msg.partition !== partition) continue;
        const o = BigInt(msg.offset);
        if (low === undefined || o < low) low = o;
      }
    }
    return low === undefined ? undefined : String(low);
  }

  /** These partitions went to another instance, which reads their held parts again: forget them here. */
  revoke(partitions: readonly number[]): void {
    for (const [k, w] of this.waiting) {
      const first = w.parts.values().next().value;
      if (first && partitions.includes(first.msg.partition)) this.remove(k, w);
    }
    for (const w of this.leaving) {
      const first = w.parts.values().next().value;
      if (first && partitions.includes(first.msg.partition)) this.leaving.delete(w);
    }
  }

  private remove(key: string, w: Waiting): void {
    this.waiting.delete(key);
    this.bytes -= w.bytes;
  }

  private giveUp(w: Waiting, why: string): GivenUp {
    const missing = this.plan.map((_, i) => i).filter((i) => !w.parts.has(i));
    this.leaving.add(w);
    return {
      release: () => { this.leaving.delete(w); },
      parts: [...w.parts.values()].map((p) => p.msg),
      err: new BlindearError('BLINDEAR_ERR_SCORES_INCOMPLETE', `session ${w.session} windows from ${w.seq}: no answer from shard ${missing.join(', ')} of ${this.plan.length} (${why})`),
    };
  }
}
