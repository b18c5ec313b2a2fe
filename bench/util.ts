/**
 * Shared by the bench scenarios: clocks, statistics, seeded data, child processes that are always
 * stopped, Prometheus scraping and the report writer. Nothing here measures anything by itself.
 */
import { seededRandom } from '../pipeline/model/calibrate.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Repository root: the nearest folder above this file holding package.json, so that it is the same
 * whether this file runs compiled (dist/bench/util.js, the bench) or from source (bench/util.ts, tests).
 */
export const REPO = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
})();
export const BIN = join(REPO, 'bin', 'blindear.js');

export const now = (): number => performance.now();
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
const hasSchedstat = existsSync(SCHEDSTAT);
/**
 * CPU ms of the main thread: the one-core cost, unlike wall time on a shared machine. From Linux's
 * schedstat (ns on CPU), so V8's background threads (GC, WASM tier-up) are not counted; elsewhere the
 * whole process's user + system time.
 */
export const cpuMs = (): number => {
  if (hasSchedstat) return Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) / 1e6;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/**
 * Runs `fn` at least `minRuns` times and until `minWallMs` have passed; returns CPU and wall ms per run.
 * The thread CPU clock advances in scheduler ticks (≈ 4 ms): time spans of many runs, not single runs.
 */
export async function timeLoop(fn: () => unknown, opts: { minRuns?: number; minWallMs?: number } = {}): Promise<{ cpuMs: number; wallMs: number; runs: number }> {
  const { minRuns = 1, minWallMs = 200 } = opts;
  const c0 = cpuMs();
  const t0 = now();
  let runs = 0;
  while (runs < minRuns || now() - t0 < minWallMs) {
    const r = fn();
    if (r instanceof Promise) await r;
    runs++;
  }
  return { cpuMs: (cpuMs() - c0) / runs, wallMs: (now() - t0) / runs, runs };
}
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const round = (v: number, digits = 1): number => Number(v.toFixed(digits));

export function median(a: readonly number[]): number {
  return percentile(a, 50);
}

/** Nearest-rank percentile (p in 0..100) of a non-empty sample. */
export function percentile(a: readonly number[], p: number): number {
  if (a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** The product's seeded PRNG: every run benchmarks the same data. */
export const rng = seededRandom;

export const loadAverage = (): number[] => loadavg().map((v) => round(v, 2));

export function machine(): Record<string, unknown> {
  const require = createRequire(import.meta.url);
  const version = (pkg: string): string => (require(`${pkg}/package.json`) as { version: string }).version;
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    nodeSeal: version('node-seal'),
    kafkajs: version('kafkajs'),
    platform: `${process.platform} ${process.arch}`,
  };
}

/** A Markdown table; numbers are printed as they are, null/undefined as "–". */
export function mdTable(headers: string[], rows: unknown[][]): string {
  const cell = (v: unknown): string => (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v)) ? '–' : String(v));
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** Writes report.json and report.md (write-then-rename, so a reader never sees half a report). */
export async function writeReport(dir: string, json: unknown, markdown: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of [['report.json', `${JSON.stringify(json, null, 2)}\n`], ['report.md', markdown]] as const) {
    await writeFile(join(dir, `${name}.tmp`), text);
    await rename(join(dir, `${name}.tmp`), join(dir, name));
  }
}

// ------------------------------------------------------------------ cleanup of what the bench started

const cleanups: (() => Promise<unknown>)[] = [];
let stopping = false;
let cleaning: Promise<void> | undefined;
const live = new Set<ChildProcess>();
// Last resort when the bench exits without cleanupAll(): no child outlives it (the broker is stopped by cleanupAll).
process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });

/** Registers an undo step; returns a function that runs it once and unregisters it. */
export function onCleanup(fn: () => Promise<unknown>): () => Promise<void> {
  let done = false;
  const run = async (): Promise<void> => {
    if (done) return;
    done = true;
    const i = cleanups.indexOf(run);
    if (i >= 0) cleanups.splice(i, 1);
    await fn();
  };
  cleanups.push(run);
  if (stopping) void run(); // registered after cleanupAll() began: undo at once
  return run;
}

/** Runs every registered undo step, newest first, even when some fail; nothing new starts afterwards. */
export function cleanupAll(): Promise<void> {
  stopping = true;
  cleaning ??= (async () => {
    while (cleanups.length > 0) await cleanups[cleanups.length - 1]().catch((err) => console.error(`cleanup: ${String(err)}`));
  })();
  return cleaning;
}

// ------------------------------------------------------------------ child processes

export interface Child {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once the process is gone. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns a command whose stop is registered for cleanup; stdout is kept, stderr's tail is kept. */
export function startProcess(cmd: string, args: string[], opts: { onLine?: (line: string) => void } = {}): Child {
  if (stopping) throw new Error(`not starting ${cmd}: the bench is stopping`);
  const child = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  let err = '';
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    if (!opts.onLine) return;
    const lines = (partial + c).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) opts.onLine(l);
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    err += c;
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (code) => resolve(code));
  }).finally(() => live.delete(child));
  const kill = async (graceMs = 20_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const stop = onCleanup(kill);
  void exited.then(() => stop());
  return { child, stdout: () => out, stderr: () => err, exited, stop: (graceMs?: number) => kill(graceMs) };
}

/** The blindear CLI (bin/blindear.js over dist/) as a child process. */
export const startCli = (args: string[], opts: { onLine?: (line: string) => void } = {}): Child => startProcess(process.execPath, [BIN, ...args], opts);

/** Runs a child to completion; rejects with its stderr tail on a non-zero exit. */
export async function runToEnd(c: Child, what: string): Promise<string> {
  const code = await c.exited;
  if (code !== 0) throw new Error(`${what} exited with ${code}: ${c.stderr().slice(-2000)}`);
  return c.stdout();
}

/** Polls `check` until it returns a value or the deadline passes. */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ------------------------------------------------------------------ Prometheus

/** Scrapes /metrics into series → value (series as written, e.g. `x_total{stage="scorer"}`); null if unreachable. */
export async function scrape(port: number): Promise<Map<string, number> | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    if (!res.ok) return null;
    const out = new Map<string, number>();
    for (const line of (await res.text()).split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const i = line.lastIndexOf(' ');
      out.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
    return out;
  } catch {
    return null;
  }
}

/** Sum of a metric's series whose labels contain every `labels` pair. */
export function metric(m: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [series, v] of m) {
    const brace = series.indexOf('{');
    if ((brace < 0 ? series : series.slice(0, brace)) !== name) continue;
    if (Object.entries(labels).every(([k, val]) => series.includes(`${k}="${val}"`))) sum += v;
  }
  return sum;
}

/** A port nothing listens on right now (the OS picks it); kafka.sh takes the next one or another for its controller. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error(`unexpected server address ${String(address)}`));
      });
    });
  });
}

export interface KafkaShResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs infra/kafka.sh with `args` from the repository root, collecting its output. */
export function runKafkaSh(args: string[]): Promise<KafkaShResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(REPO, 'infra', 'kafka.sh'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
