/**
 * Scenario 5: a scoring process on more than one core. A ScoringEngine with `threads` worker threads
 * (one SEAL instance and encoded model each) drains a backlog of queries from several sessions, as a
 * scorer consuming several partitions does; the same backlog through 0 threads (evaluation on the
 * calling thread, one query at a time) is the baseline. Reported: wall ms per query, queries and
 * real-time streams per second of wall time, the 1 → n thread scaling, and the calling thread's event
 * loop (utilisation and the worst delay) while the threads score: what a Kafka consumer there would see.
 *
 * Shape: the landmark default (d = 2048, one 15 s window per query) at C classes, random model, under its
 * enrolment parameters. Wall time is the figure here (several cores); on a shared machine it includes
 * the neighbours' load, printed beside it.
 *
 * The same for the LWE engine (`scheme: 'lwe'`): its threads split each query's scan by rows, so the
 * backlog drains with every session's queries in flight at once and each query uses every thread.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { ClientSession } from '../pipeline/he/client/index.js';
import { ScoringEngine } from '../pipeline/he/server/index.js';
import { LweScoringEngine } from '../pipeline/he/server/lwe-engine.js';
import { LWE_NONCE_BYTES, LWE_SESSION_MARKER } from '../pipeline/he/lwe.js';
import { heParamsFor } from '../pipeline/model/enroll.js';
import { LandmarkParams } from '../schemas/feature-landmark.js';
import { randomModel, randomWindows } from './scoring-cost.js';
import { loadAverage, mdTable, now, round } from './util.js';

/** CPU ms of the whole process, every thread included (util's cpuMs counts the main thread only). */
const processCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export interface ThreadsRow {
  scheme: 'ckks' | 'lwe';
  threads: number;
  C: number;
  queries: number;
  sessions: number;
  engineBuildMs: number;
  wallMs: number;
  wallMsPerQuery: number;
  queriesPerSecond: number;
  streamsPerProcess: number;
  speedup: number;
  /** Process CPU time (all threads) per wall time while draining: the cores the process got. */
  coresUsed: number;
  cpuMsPerQuery: number;
  loopUtilisation: number;
  /** Worst event-loop delay; null when the loop never reached its timers (blocked throughout). */
  loopMaxDelayMs: number | null;
  loadavg: number[];
}

interface Drainable {
  score(keys: unknown, query: Uint8Array): Promise<Uint8Array[]>;
  close(): Promise<void>;
}

/** CKKS: an engine, each session's keys and its queries encrypted under them. */
async function ckksBacklog(threads: number, C: number, sessions: number, perSession: number) {
  const l = LandmarkParams.parse({});
  const params = heParamsFor('landmark', l.hopSeconds, l.d);
  const model = randomModel(C, l.d, C * 31 + l.d);
  const engine = await ScoringEngine.create(params, model, { threads });
  const clients = await Promise.all(Array.from({ length: sessions }, () => ClientSession.create(params, { classes: C, dim: l.d })));
  const keys = await Promise.all(clients.map((c) => engine.loadSessionKeys(c.publicMaterial())));
  const backlog = clients.map((c, s) => randomWindows(perSession, l.d, 100 + s).map((x) => c.encryptWindows([x]).ciphertexts[0]));
  return { engine: engine as Drainable, keys: keys as unknown[], backlog, dispose: () => { for (const k of keys) k.dispose(); for (const c of clients) c.dispose(); } };
}

/** LWE: the engine on `threads` threads; a query is a nonce and d words, whose values do not change the scan's cost. */
async function lweBacklog(threads: number, C: number, sessions: number, perSession: number) {
  const d = LandmarkParams.parse({}).d;
  const model = randomModel(C, d, C * 31 + d);
  const engine = await LweScoringEngine.create(model).startThreads(threads);
  const marker = await engine.loadSessionKeys(LWE_SESSION_MARKER);
  let state = 0x51ed270b;
  const backlog = Array.from({ length: sessions }, () => Array.from({ length: perSession }, () => {
    const q = new Uint8Array(LWE_NONCE_BYTES + 4 * d);
    const w = new Int32Array(q.buffer, LWE_NONCE_BYTES, d);
    for (let i = 0; i < d; i++) w[i] = state = (Math.imul(state, 1664525) + 1013904223) | 0;
    return q;
  }));
  return { engine: engine as Drainable, keys: Array(sessions).fill(marker) as unknown[], backlog, dispose: () => undefined };
}

async function drain(scheme: 'ckks' | 'lwe', threads: number, C: number, sessions: number, perSession: number, log: (s: string) => void): Promise<Omit<ThreadsRow, 'speedup'>> {
  let t = now();
  const { engine, keys, backlog, dispose } = await (scheme === 'lwe' ? lweBacklog : ckksBacklog)(threads, C, sessions, perSession);
  const engineBuildMs = now() - t;
  try {
    // Warm-up: JIT, SEAL memory pools and isolated parsers in every thread.
    await Promise.all(Array.from({ length: Math.max(1, threads) * 2 }, (_, i) => engine.score(keys[i % sessions], backlog[i % sessions][0])));
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = processCpuMs();
    t = now();
    if (threads === 0) {
      for (let q = 0; q < perSession; q++) for (let s = 0; s < sessions; s++) await engine.score(keys[s], backlog[s][q]);
    } else {
      // Each session in order (a partition), sessions side by side, as the consumer runs them.
      await Promise.all(backlog.map(async (queries, s) => { for (const q of queries) await engine.score(keys[s], q); }));
    }
    const wallMs = now() - t;
    const cpu = processCpuMs() - cpu0;
    const elu = performance.eventLoopUtilization(elu0);
    delay.disable();
    const queries = sessions * perSession;
    const row = {
      scheme, threads, C, queries, sessions,
      engineBuildMs: round(engineBuildMs, 0),
      wallMs: round(wallMs, 0),
      wallMsPerQuery: round(wallMs / queries, 1),
      queriesPerSecond: round((1000 * queries) / wallMs, 2),
      // One query per 15 s of audio per stream.
      streamsPerProcess: round((15_000 * queries) / wallMs, 1),
      coresUsed: round(cpu / wallMs, 2),
      cpuMsPerQuery: round(cpu / queries, 1),
      loopUtilisation: round(elu.utilization, 3),
      loopMaxDelayMs: delay.count > 0 ? round(delay.max / 1e6, 1) : null,
      loadavg: loadAverage(),
    };
    log(`${scheme} C=${C} threads ${threads}: ${row.wallMsPerQuery} ms per query, ${row.streamsPerProcess} streams, ${row.coresUsed} cores, loop ${row.loopUtilisation} busy, max delay ${row.loopMaxDelayMs} ms`);
    return row;
  } finally {
    dispose();
    await engine.close();
  }
}

export interface ThreadsCase {
  scheme: 'ckks' | 'lwe';
  C: number;
  perSession: number;
}

export async function runScoringThreads(opts: { cases: ThreadsCase[]; threads: number[]; sessions: number; log: (s: string) => void }): Promise<{ rows: ThreadsRow[]; markdown: string }> {
  const rows: ThreadsRow[] = [];
  for (const c of opts.cases) {
    const mine: ThreadsRow[] = [];
    for (const threads of opts.threads) mine.push({ ...(await drain(c.scheme, threads, c.C, opts.sessions, c.perSession, opts.log)), speedup: 1 });
    const one = mine.find((r) => r.threads === 1) ?? mine[0];
    for (const r of mine) r.speedup = round(one.wallMsPerQuery / r.wallMsPerQuery, 2);
    rows.push(...mine);
  }
  const markdown = [
    '## 5. One scoring process on several cores (worker threads)',
    '',
    `Landmark default shape (d = 2048, one query per 15 s), random models; ${opts.sessions} sessions' queries queued (${opts.cases.map((c) => `${c.scheme} C = ${c.C}: ${c.perSession} each`).join('; ')}), ` +
      'each session scored in order, sessions side by side. threads = 0: evaluation on the calling thread. CKKS threads take whole queries (a SEAL instance each); LWE threads split each query\'s scan by rows. ' +
      'Wall time (several cores); "cores used" = the process\'s CPU time (all threads) over wall time, with CPU ms per query beside it: on a shared machine, the cores the process actually got. "loop busy" = event-loop utilisation of the calling thread while the backlog drains; "max delay" = its worst event-loop delay.',
    '',
    mdTable(
      ['scheme', 'C', 'threads', 'engine build ms', 'wall ms / query', 'queries / s', 'real-time streams (process)', 'vs 1 thread', 'cores used', 'CPU ms / query', 'loop busy', 'max loop delay ms', 'load average after'],
      rows.map((r) => [r.scheme, r.C, r.threads, r.engineBuildMs, r.wallMsPerQuery, r.queriesPerSecond, r.streamsPerProcess, `×${r.speedup}`, r.coresUsed, r.cpuMsPerQuery, r.loopUtilisation, r.loopMaxDelayMs ?? 'never ran', r.loadavg.join(' ')]),
    ),
  ].join('\n');
  return { rows, markdown };
}
