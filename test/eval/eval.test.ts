/**
 * `blindear eval` end to end on real music: the ci test catalogue, real never-enrolled tracks (plus a
 * file ffmpeg cannot decode), every default condition through the encrypted path and the clear-text
 * scorer on worker threads (which load the build in dist/: `npx tsc -p .` first), and the report files.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONDITIONS, NEGATIVES_CONDITION, parseConditions } from '../../pipeline/eval/conditions.js';
import { writeEvalReport } from '../../pipeline/eval/report-files.js';
import { renderText } from '../../pipeline/eval/report-table.js';
import { runEvaluation, type EvalOptions } from '../../pipeline/eval/run-eval.js';
import { createLogger } from '../../pipeline/runtime/logger.js';
import { EvalReport } from '../../schemas/eval.js';
import { testCatalog, type TestCatalog } from '../helpers/catalog.js';
import { REPO, tracksPerPackage } from '../helpers/music.js';

/** Never-enrolled music: BLINDEAR_NEGATIVES_DIR or the set `npm test`'s pretest fetches (infra/music.sh negatives). */
const NEGATIVES_DIR = [process.env.BLINDEAR_NEGATIVES_DIR, join(REPO, '.cache', 'music', 'negatives')]
  .find((d): d is string => !!d && existsSync(join(d, 'manifest.tsv')));
const NEGATIVE_TRACKS = 13;
const UNDECODABLE = 'broken/not-audio.ogg';

describe('blindear eval', () => {
  let catalog: TestCatalog;
  let work: string;
  let negatives: string;
  let report: EvalReport;
  let outDir: string;

  const options = (over: Partial<EvalOptions>): EvalOptions => ({
    musicDir: catalog.enrolDir,
    negativesDir: negatives,
    perCondition: 2,
    negativesCount: 7,
    seed: 11,
    conditions: parseConditions(DEFAULT_CONDITIONS),
    catalogDir: catalog.dir,
    outDir,
    workers: 2,
    logger: createLogger('silent'),
    progress: false,
    ...over,
  });

  beforeAll(async () => {
    if (!NEGATIVES_DIR) throw new Error(`no never-enrolled music: run 'bash infra/music.sh negatives' or set BLINDEAR_NEGATIVES_DIR`);
    catalog = await testCatalog('landmark', tracksPerPackage(4));
    work = mkdtempSync(join(tmpdir(), 'blindear-eval-test-'));
    outDir = join(work, 'out');
    // A small negatives folder: real tracks (half become babble, half unknown queries) and one file that is not audio.
    negatives = join(work, 'negatives');
    const paths = readFileSync(join(NEGATIVES_DIR, 'manifest.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t')[0]);
    for (const p of paths.slice(0, NEGATIVE_TRACKS)) {
      mkdirSync(join(negatives, p, '..'), { recursive: true });
      symlinkSync(join(NEGATIVES_DIR, p), join(negatives, p));
    }
    mkdirSync(join(negatives, 'broken'), { recursive: true });
    writeFileSync(join(negatives, UNDECODABLE), Buffer.from('this is not an Ogg stream'.repeat(100)));
    report = await runEvaluation(options({}));
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('measures every default condition and the never-enrolled excerpts', () => {
    // Speech needs espeak-ng (not a dependency of the tests): without it, its conditions are reported unavailable.
    const unavailable = report.unavailable.map((u) => u.condition);
    expect(DEFAULT_CONDITIONS.filter((c) => !unavailable.includes(c))).toEqual(report.conditions.map((c) => c.name));
    for (const u of report.unavailable) expect(u.condition, u.reason).toMatch(/speech/);
    for (const c of report.conditions) expect(c.n).toBe(2);
    expect(report.negatives.summary.name).toBe(NEGATIVES_CONDITION);
    expect(report.negatives.summary.n).toBeGreaterThanOrEqual(5);
    expect(report.queries).toHaveLength(report.timing.queries);
  });

  it('recognises clean excerpts and rejects never-enrolled ones', () => {
    const byName = new Map(report.conditions.map((c) => [c.name, c]));
    expect(byName.get('10s-clean')!.top1).toBe(2);
    expect(byName.get('10s-mp3-64k')!.top1 + byName.get('10s-gain-20dB')!.top1).toBeGreaterThanOrEqual(3);
    const neg = report.negatives.summary;
    expect(neg.unknown / neg.n).toBeGreaterThanOrEqual(0.8);
  });

  it('the encrypted answer never differs from the clear-text one', () => {
    for (const c of [...report.conditions, report.negatives.summary]) expect(c.encryptedDiffers, c.name).toBe(0);
    for (const q of report.queries) expect(q.encrypted.track).toBe(q.plain.track);
  });

  it('keeps babble sources and unknown queries disjoint, and reports the undecodable file', () => {
    const { babbleTracks, queryTracks } = report.negatives;
    expect(babbleTracks.length).toBeGreaterThanOrEqual(6);
    expect(babbleTracks.filter((t) => queryTracks.includes(t))).toEqual([]);
    const sources = new Set(report.queries.filter((q) => q.truth === null).map((q) => q.source));
    for (const s of sources) expect(queryTracks).toContain(s);
    expect(report.skipped.map((s) => s.path)).toContain(UNDECODABLE);
  });

  it('writes eval.json (schema-valid), eval.md and eval.svg', async () => {
    const files = await writeEvalReport(outDir, report);
    const parsed = EvalReport.parse(JSON.parse(readFileSync(files.json, 'utf8')));
    expect(parsed.queries).toEqual(report.queries);
    const md = readFileSync(files.markdown, 'utf8');
    expect(md).toMatch(/\| 10s-white-10dB \| 2 \|/);
    expect(md).toMatch(/threshold: confidence/);
    const svg = readFileSync(files.svg, 'utf8');
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg.match(/<polyline /g)?.length).toBe(4); // 10 s and 5 s, white and babble
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(statSync(files.svg).size).toBeGreaterThan(1000);
    expect(renderText(report)).toMatch(/^condition\s+n\s+top-1/);
  });

  it('draws the same queries from the same seed, whatever else the run measures', async () => {
    const again = await runEvaluation(options({ conditions: parseConditions(['10s-white-0dB']), negativesCount: 0 }));
    // The clear-text answer is a function of the query alone; the encrypted confidence carries fresh CKKS noise.
    const pick = (r: EvalReport, name: string) => r.queries.filter((q) => q.condition === name).map((q) => [q.source, q.startSeconds, q.plain, q.encrypted.track]);
    expect(pick(again, '10s-white-0dB')).toEqual(pick(report, '10s-white-0dB'));
  });
});
