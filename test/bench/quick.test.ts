/**
 * The benchmark must not rot: its quick mode runs end to end (scoring, LWE scoring, a sharded LWE
 * catalogue, scoring threads, client cost, a real broker with one and two workers) and writes a complete
 * report. Nothing here asserts speed; figures are read by
 * people from `npm run bench`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/music.js';

describe('npm run bench -- --quick', () => {
  it('runs every scenario and writes the JSON and Markdown report', async () => {
    const out = mkdtempSync(join(tmpdir(), 'blindear-bench-test-'));
    const { code, log } = await new Promise<{ code: number | null; log: string }>((resolve) => {
      const child = spawn(process.execPath, ['dist/bench/run.js', '--quick', '--out', out], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      child.stdout.on('data', (c) => { log += c; });
      child.stderr.on('data', (c) => { log += c; });
      child.on('close', (c) => resolve({ code: c, log }));
    });
    expect(code, log.slice(-3000)).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/Encrypted scoring/);
    expect(md).toMatch(/Client cost/);
    expect(md).toMatch(/Kafka/);
    expect(report.machine.nodeSeal).toBe('6.0.3');
    expect(report.scoring.rows.length).toBeGreaterThan(0);
    expect(report.kafka.rounds.map((r: { workers: number }) => r.workers)).toEqual([1, 2]);
    // Windows whose clear margin exceeds twice the worst error keep their argmax (closer pairs may swap).
    expect(report.lwe.rows.every((r: { argmaxAgreeBeyondError: string }) => /^(\d+)\/\1$/.test(r.argmaxAgreeBeyondError))).toBe(true);
    expect(report.shards.rows.length).toBeGreaterThan(0);
    expect(report.position.rows.map((r: { exact: string }) => r.exact)).toEqual(['yes']);
    // Both engines on 0, 1 and 2 threads, every thread count drained and timed.
    expect(report.threads.rows.map((r: { scheme: string; threads: number }) => `${r.scheme} ${r.threads}`)).toEqual(['ckks 0', 'ckks 1', 'ckks 2', 'lwe 0', 'lwe 1', 'lwe 2']);
    expect(report.threads.rows.every((r: { wallMsPerQuery: number }) => r.wallMsPerQuery > 0)).toBe(true);
    // The monitoring service decided windows of its paced stations, each partition served by its one instance.
    const mon = report.monitor.rounds[0] as { decisions: number; latencyP50: number; partitions: Record<string, number[][]> };
    expect(mon.decisions).toBeGreaterThan(0);
    expect(mon.latencyP50).toBeGreaterThan(0);
    expect(mon.partitions['blindear-client-decide'].flat().sort()).toEqual([0, 1]);
  }, 1_800_000);
});
