/**
 * FHE scoring (server zone): a query ciphertext → the encrypted catalogue scores W·x + b, under the
 * session's evaluation keys. Sees only ciphertexts and keys; validation happens before any evaluation.
 *
 * Hostile input never holds a partition: keys are looked up by the record key (which must be the
 * envelope's session), and a query whose keys have not arrived is parked — in a bounded lot, off the
 * consumer's path — and scored when they arrive, or dead-lettered after `parkMs`. While a session has
 * parked queries its later queries queue behind them, so a session's scores keep their order. Parked
 * records hold the partition's committed offset back (`heldOffset`), so a crash loses none of them.
 * Each session also has a scoring budget in audio seconds (a token bucket): a linear model is recovered
 * from about d + 1 score vectors, so a session may not ask much faster than real time for long.
 */
import { decodeFrames, encodeFrames } from '../../schemas/frames.js';
import type { ScoresShard } from '../../schemas/messages.js';
import { BlindearError } from '../errors.js';
import type { CatalogueEngine, PositionEngine } from '../he/server/index.js';
import { defineStage, type Inbound, type Outbound, type Stage, type StageContext } from '../runtime/stage.js';
import type { SessionKeyStore } from './session-key-store.js';

export interface ParkingLimits {
  /** How long a query waits for its session's keys before it is dead-lettered. */
  parkMs: number;
  perSession: number;
  total: number;
  totalBytes: number;
}

export const DEFAULT_PARKING: ParkingLimits = { parkMs: 10_000, perSession: 64, total: 1024, totalBytes: 256 * 1024 * 1024 };

export interface RateLimit {
  /** Audio seconds a session may have scored in a burst (a 1-hour identify fits). */
  burstSeconds: number;
  /** Audio seconds per wall-clock second refilled (2 = twice real time). */
  perSecond: number;
  /** Sessions whose budget is tracked (least recently used forgotten first). */
  maxSessions: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { burstSeconds: 3600, perSecond: 3, maxSessions: 100_000 };

interface Parked {
  msg: Inbound<'queries'>;
  since: number;
}

export interface ScorerStage extends Stage<'queries'> {
  /** Lowest offset of `partition` still parked: the runtime commits no further. */
  heldOffset(partition: number): string | undefined;
  /** Queries parked now. */
  readonly parked: number;
  /** Resolves once parked queries released so far are scored (for tests and shutdown). */
  idle(): Promise<void>;
}

class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly limit: RateLimit) {}

  take(session: string, cost: number, now: number): boolean {
    let b = this.buckets.get(session);
    if (b) this.buckets.delete(session);
    b ??= { tokens: this.limit.burstSeconds, at: now };
    b.tokens = Math.min(this.limit.burstSeconds, b.tokens + ((now - b.at) / 1000) * this.limit.perSecond);
    b.at = now;
    this.buckets.set(session, b);
    if (this.buckets.size > this.limit.maxSessions) this.buckets.delete(this.buckets.keys().next().value as string);
    if (b.tokens < cost) return false;
    b.tokens -= cost;
    return true;
  }
}

/** Records one position query record asks for at most (the client's POSITION_CANDIDATES). */
export const MAX_POSITION_QUERIES = 2;

export function createScorerStage(deps: {
  engine: Pick<CatalogueEngine, 'checkParamsId' | 'score' | 'windowsIn'>;
  /** The catalogue's position table, when it has one: answers `kind: 'position'` queries. */
  position?: Pick<PositionEngine, 'answer'>;
  modelId: string;
  keys: SessionKeyStore;
  /** A shard's worker: every scores record says which shard and classes it holds. */
  shard?: ScoresShard;
  /** Audio seconds one window covers (the catalogue's hop): the unit of the rate limit. */
  hopSeconds?: number;
  /** Query vectors per window of the catalogue served (its speed hypotheses, probes): a window is that many vectors. */
  vectorsPerWindow?: number;
  parking?: Partial<ParkingLimits>;
  rateLimit?: RateLimit | null;
  /** Sends the outputs of a query scored after it was parked. */
  emit?(outputs: Outbound[]): Promise<void>;
  /** Dead-letters a parked query that failed or waited too long. */
  deadLetter?(msg: Inbound<'queries'>, err: BlindearError): Promise<void>;
  /**
   * Dead-letters refused queries in batches, off the partition's path (their offsets are held until
   * sent). Without it, a refused query is thrown to the runtime, which dead-letters it in line.
   */
  deadLetterBatch?(items: { msg: Inbound<'queries'>; err: BlindearError }[]): Promise<void>;
  /** Called when parked queries leave the lot (the runtime may commit further). */
  released?(): void;
}): ScorerStage {
  const parking = { ...DEFAULT_PARKING, ...deps.parking };
  const buckets = deps.rateLimit === null ? undefined : new TokenBuckets(deps.rateLimit ?? DEFAULT_RATE_LIMIT);
  /** Session → its parked queries, in arrival order. */
  const lot = new Map<string, Parked[]>();
  const seen = new Set<string>();
  let parkedCount = 0;
  let parkedBytes = 0;
  let draining: Promise<void> = Promise.resolve();
  let ctxRef: StageContext | undefined;
  let closed = false;

  async function score(msg: Inbound<'queries'>, ctx: StageContext): Promise<Outbound[]> {
    const { session, paramsId, modelId, count } = msg.envelope;
    const keys = await deps.keys.get(session, { paramsId, modelId });
    if (buckets && deps.hopSeconds) {
      // Every window the query holds is scored, whatever `count` claims.
      // A position record (at most MAX_POSITION_QUERIES records asked) costs one window: a monitoring client
      // sends one with every decision, beside the window it scores.
      const windows = msg.envelope.kind === 'position' ? 1 : Math.max(count, Math.ceil(deps.engine.windowsIn(msg.value) / (deps.vectorsPerWindow ?? 1)));
      const cost = windows * deps.hopSeconds;
      if (!buckets.take(session, cost, ctx.now())) {
        ctx.metrics.rateLimited?.inc({ stage: 'scorer' });
        throw new BlindearError('BLINDEAR_ERR_RATE_LIMITED', `${session}: over ${deps.rateLimit?.perSecond ?? DEFAULT_RATE_LIMIT.perSecond}× real time after a burst of ${deps.rateLimit?.burstSeconds ?? DEFAULT_RATE_LIMIT.burstSeconds} s`);
      }
    }
    const started = process.hrtime.bigint();
    const parts = msg.envelope.kind === 'position' ? answerPositions(msg.value, count) : await deps.engine.score(keys, msg.value);
    ctx.metrics.fheSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    const value = encodeFrames(parts);
    ctx.metrics.ciphertextBytes.inc({ stage: 'scorer', direction: 'in' }, msg.value.length);
    ctx.metrics.ciphertextBytes.inc({ stage: 'scorer', direction: 'out' }, value.length);
    return [{
      topic: 'scores' as const,
      key: session,
      envelope: { ...msg.envelope, parts: parts.length, scoredAtMs: ctx.now(), ...(deps.shard ? { shard: deps.shard } : {}) },
      value,
    }];
  }

  /** A position record frames `count` queries (at most MAX_POSITION_QUERIES), one class's record each. */
  function answerPositions(value: Uint8Array, count: number): Uint8Array[] {
    const position = deps.position;
    if (!position) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', 'a position query, and this worker\'s catalogue has no position table', { retriable: false });
    let queries: Uint8Array[];
    try {
      queries = decodeFrames(value, MAX_POSITION_QUERIES);
    } catch (err) {
      throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `position queries: ${(err as Error).message}`, { retriable: false });
    }
    if (queries.length !== count) throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `envelope says ${count} position queries, value has ${queries.length}`, { retriable: false });
    return queries.map((q) => position.answer(q));
  }

  
  const idOf = (m: Inbound<'queries'>): string => `${m.partition}:${m.offset}`;

  /** Refused queries waiting for their batched dead letter (their offsets are held meanwhile). */
  let refusals: { msg: Inbound<'queries'>; err: BlindearError }[] = [];
  let sending: { msg: Inbound<'queries'>; err: BlindearError }[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  function flushRefusals(): void {
    flushTimer = undefined;
    flushing = flushing.then(async () => {
      if (refusals.length === 0) return;
      sending = refusals;
      refusals = [];
      try {
        await deps.deadLetterBatch!(sending);
        for (const r of sending) seen.delete(idOf(r.msg));
        sending = [];
        deps.released?.();
      } catch (err) {
        ctxRef?.logger.warn({ err: (err as Error).message }, 'dead letters not sent yet: retrying');
        refusals = [...sending, ...refusals];
        sending = [];
        flushTimer ??= setTimeout(flushRefusals, 1000);
      }
    });
  }
  function refuse(msg: Inbound<'queries'>, err: BlindearError, ctx: StageContext): Outbound[] {
    if (!deps.deadLetterBatch || err.retriable) throw err;
    ctx.logger.warn({ code: err.code, partition: msg.partition, offset: msg.offset, session: msg.key.slice(0, 64) }, err.message);
    ctx.metrics.deadLetters.inc({ stage: 'scorer', code: err.code });
    refusals.push({ msg, err });
    seen.add(idOf(msg));
    flushTimer ??= setTimeout(flushRefusals, 20);
    return [];
  }

  function unpark(session: string, n: number): Parked[] {
    const list = lot.get(session) ?? [];
    const out = list.splice(0, n);
    if (list.length === 0) lot.delete(session);
    for (const p of out) { parkedCount--; parkedBytes -= p.msg.value.length; seen.delete(idOf(p.msg)); }
    ctxRef?.metrics.parkedQueries?.set(parkedCount);
    return out;
  }

  /** Scores (or dead-letters) the session's parked queries in order, one at a time, off the consumer's path. */
  function release(session: string, expiredOnly: boolean): void {
    draining = draining.then(async () => {
      const ctx = ctxRef;
      if (!ctx || closed) return;
      for (;;) {
        const head = lot.get(session)?.[0];
        if (!head) break;
        const expired = ctx.now() - head.since >= parking.parkMs;
        const status = deps.keys.status(session);
        if (status === 'absent' && !expired) break;
        if (expiredOnly && !expired && status !== 'ready') break;
        const [p] = unpark(session, 1);
        try {
          if (status === 'absent') throw new BlindearError('BLINDEAR_ERR_SESSION_UNKNOWN', `${session}: no keys within ${parking.parkMs} ms`, { retriable: false });
          const outputs = await score(p.msg, ctx);
          await deps.emit?.(outputs);
          ctx.metrics.messages.inc({ stage: 'scorer', outcome: 'processed' });
        } catch (err) {
          if (!(err instanceof BlindearError)) throw err;
          ctx.logger.warn({ code: err.code, partition: p.msg.partition, offset: p.msg.offset, session }, err.message);
          await deps.deadLetter?.(p.msg, err);
          ctx.metrics.deadLetters.inc({ stage: 'scorer', code: err.code });
          ctx.metrics.messages.inc({ stage: 'scorer', outcome: 'dead_letter' });
        }
      }
      deps.released?.();
    }).catch((err: unknown) => { ctxRef?.logger.error({ err }, 'releasing parked queries failed'); });
  }

  deps.keys.onKeys((session) => { if (lot.has(session)) release(session, false); });
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const [session, list] of lot) if (now - list[0].since >= parking.parkMs) release(session, true);
  }, Math.max(50, Math.min(1000, parking.parkMs / 4)));
  sweeper.unref();

  const stage = defineStage({
    name: 'scorer',
    input: 'queries',
    async process(msg, ctx) {
      ctxRef = ctx;
      if (seen.has(idOf(msg))) return []; // a redelivery of a query still parked or being dead-lettered
      try {
        return await admit(msg, ctx);
      } catch (err) {
        if (err instanceof BlindearError) return refuse(msg, err, ctx);
        throw err;
      }
    },
    async close() {
      clearInterval(sweeper);
      clearTimeout(flushTimer);
      flushRefusals();
      await flushing;
      await draining;
      closed = true;
    },
  });

  async function admit(msg: Inbound<'queries'>, ctx: StageContext): Promise<Outbound[]> {
    const { session, modelId, paramsId } = msg.envelope;
    // Keys are found by the record key: the partition it went to is the one its keys and scores use.
    if (msg.key !== session) throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `record key ${JSON.stringify(msg.key.slice(0, 64))} is not the envelope's session ${session}`);
    if (modelId !== deps.modelId) throw new BlindearError('BLINDEAR_ERR_MODEL_MISMATCH', `query for model ${modelId}, this worker serves ${deps.modelId}`);
    deps.engine.checkParamsId(paramsId);
    const status = deps.keys.status(session);
    if (status === 'evicted') await deps.keys.get(session, { paramsId, modelId }); // throws the clear code
    if (status === 'ready' && !lot.has(session)) return score(msg, ctx);
    // Park: behind the session's earlier queries, within bounds, never waiting here.
    const list = lot.get(session) ?? [];
    if (list.length >= parking.perSession || parkedCount >= parking.total || parkedBytes + msg.value.length > parking.totalBytes) {
      throw new BlindearError('BLINDEAR_ERR_SESSION_UNKNOWN', `${session}: parking full (${list.length} of this session, ${parkedCount} in all)`, { retriable: false });
    }
    list.push({ msg, since: ctx.now() });
    lot.set(session, list);
    seen.add(idOf(msg));
    parkedCount++;
    parkedBytes += msg.value.length;
    ctx.metrics.parkedQueries?.set(parkedCount);
    if (status === 'ready') release(session, false);
    return [];
  }
  // A getter must be defined, not assigned (Object.assign would copy its value once).
  Object.defineProperty(stage, 'parked', { get: () => parkedCount, enumerable: true });
  return Object.assign(stage as typeof stage & { readonly parked: number }, {
    heldOffset(partition: number): string | undefined {
      let low: bigint | undefined;
      const held = (m: Inbound<'queries'>): void => {
        if (m.partition !== partition) return;
        const o = BigInt(m.offset);
        if (low === undefined || o < low) low = o;
      };
      for (const list of lot.values()) for (const p of list) held(p.msg);
      for (const r of refusals) held(r.msg);
      for (const r of sending) held(r.msg);
      return low === undefined ? undefined : String(low);
    },
    idle: () => draining,
  });
}
