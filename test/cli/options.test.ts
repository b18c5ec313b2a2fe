// CLI habits without a broker: every option has an environment variable and works from it alone,
// --version, exit codes (2 usage, 1 run time), a one-line fast failure when no broker answers, and
// the readable log line used on terminals.
import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { envNameFor } from '../../pipeline/cli/habits.js';
import { isBlindearError } from '../../pipeline/errors.js';
import { checkBrokers } from '../../pipeline/runtime/broker-check.js';
import { buildProgram, main } from '../../pipeline/cli/main.js';
import { prettyLine, resolveLogFormat } from '../../pipeline/runtime/logger.js';
import { VERSION } from '../../pipeline/version.js';
import type { Command } from 'commander';

const leaves = (c: Command): Command[] => (c.commands.length === 0 ? [c] : c.commands.flatMap(leaves));

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c) => { out += String(c); return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c) => { err += String(c); return true; });
  const saved = { ...process.env };
  Object.assign(process.env, env);
  process.exitCode = undefined;
  try {
    await main(['node', 'blindear', ...args]);
    return { code: Number(process.exitCode ?? 0), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.env = saved;
    process.exitCode = undefined;
  }
}

/** A loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

afterEach(() => { vi.restoreAllMocks(); });

describe('blindear command line habits', () => {
  it('documents an environment variable for every option (but repeated ones and enrolment\'s own)', () => {
    expect(envNameFor(leaves(buildProgram()).find((c) => c.name() === 'topics')!.options.find((o) => o.long === '--partitions')!)).toBe('BLINDEAR_PARTITIONS');
    for (const cmd of leaves(buildProgram())) {
      for (const o of cmd.options) {
        if (['--help', '--version', '--kind', '--param', '--he'].includes(o.long!) || o.variadic) continue;
        // BLINDEAR_<OPTION> unless the option names its own variable (e.g. BLINDEAR_SCORER_MAX_SPEED).
        expect(o.envVar, `${cmd.name()} ${o.long}`).toMatch(/^BLINDEAR_[A-Z_]+$/);
      }
    }
    const worker = leaves(buildProgram()).find((c) => c.name() === 'worker')!;
    expect(worker.options.map((o) => o.envVar)).toEqual(expect.arrayContaining(['BLINDEAR_BROKERS', 'BLINDEAR_CATALOG', 'BLINDEAR_METRICS_PORT', 'BLINDEAR_LOG_LEVEL', 'BLINDEAR_LOG_FORMAT']));
  });

  it('--version prints the package version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(VERSION);
  });

  it('usage errors exit 2', async () => {
    expect((await run(['stream', 'x.wav'])).code).toBe(2); // missing --catalog
    expect((await run(['topics', '--brokers', 'a:1', '--bogus'])).code).toBe(2);
    expect((await run(['no-such-command'])).code).toBe(2);
  });

  it('options work from the environment alone: the command runs and fails on its own input in one line', async () => {
    const port = await closedPort();
    const r = await run(['worker', 'scorer'], { BLINDEAR_BROKERS: `127.0.0.1:${port}`, BLINDEAR_CATALOG: '/nonexistent/catalog' });
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/^blindear: .*\/nonexistent\/catalog/);
  });

  it('an unreachable broker is found within seconds and named in one line', async () => {
    const port = await closedPort();
    const err = await checkBrokers([`127.0.0.1:${port}`]).then(() => undefined, (e: unknown) => e);
    expect(isBlindearError(err) && err.code).toBe('BLINDEAR_ERR_BROKER_UNAVAILABLE');
    expect(String((err as Error).message)).toMatch(new RegExp(`^the Kafka broker cannot be reached: 127\\.0\\.0\\.1:${port} \\(`));
  });

  it('logs are JSON off a terminal and compact lines on one', () => {
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('json', true)).toBe('json');
    const line = prettyLine(JSON.stringify({ level: 40, time: '2026-01-02T03:04:05.678Z', command: 'stream', msg: 'source dropped', station: 'fm 1', retries: 3 }));
    expect(line).toBe('03:04:05.678 WARN  stream  source dropped  station="fm 1" retries=3\n');
  });
});

describe('monitor window phases', () => {
  it('spread 50 real-time stations over a 15 s hop, at most two per half second, every one inside the hop', async () => {
    const { windowPhase } = await import('../../pipeline/cli/monitor.js');
    const phases = Array.from({ length: 50 }, (_, i) => windowPhase(i, 15));
    for (const p of phases) {
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(15);
      expect(Number.isInteger(p * 2)).toBe(true);
    }
    const perSlot = new Map<number, number>();
    for (const p of phases) perSlot.set(p, (perSlot.get(p) ?? 0) + 1);
    expect(perSlot.size).toBe(30);
    expect(Math.max(...perSlot.values())).toBe(2);
  });
});
