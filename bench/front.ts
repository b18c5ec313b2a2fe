/**
 * The recognition quality / server cost front (`npm run bench -- --front`, project issue #9): each
 * operating point of FRONT_POINTS measured in one run on this machine, written to
 * bench/results/front.json (FrontReport, schemas/front.ts), front.md and front.svg.
 *
 *   npx tsc -p . && npm run bench -- --front [--points name,name] [--quick] [--music <dir>]
 *       [--negatives-dir <dir>] [--eval-cli <eval-cli.py>] [--out <dir>] [--reps n]
 *
 * Per point:
 * 1. quality: the acceptance harness ../shared/eval/eval-cli.py through the CLI (`blindear enroll` of the
 *    whole `dev` set with the point's options in BLINDEAR_ENROLL_*, then `blindear identify --json`,
 *    in-process encrypted), 100 queries per condition, 100 negatives, seed 7 (bench/front-eval.ts);
 * 2. server cost: the same catalogue scored on real query ciphertexts (bench/front-cost.ts);
 * 3. the harness's folders are removed, and the results so far are written (a long run that stops
 *    keeps its finished points; a run of some --points replaces those in an existing front.json).
 *
 * --quick: a smoke run on the `ci` set (8 tracks, 10 queries per condition, 10 negatives, 3 timed
 * queries), written to .cache/bench/front-quick/ unless --out says otherwise.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { scatterChart } from '../pipeline/eval/svg-plot.js';
import { loadManifest } from '../pipeline/model/catalog-store.js';
import { FrontPoint, FrontPointConfig, FrontReport, type EvalCliReport, type FrontCondition, type FrontPointConfigInput } from '../schemas/front.js';
import { measureCatalogCost, STREAM_BATCH_SECONDS } from './front-cost.js';
import { runEvalCli } from './front-eval.js';
import { machine, mdTable, now, REPO, round } from './util.js';

/** The operating points, in the order they are measured and reported. */
export const FRONT_POINTS: readonly FrontPointConfig[] = ([
  // The seed's method: logistic regression on 20 summed MFCCs per 0.5 s window (summary 'sum'; the
  // kind's own default summary is mean-std-delta, d = 80).
  { name: 'seed-mfcc', label: 'seed MFCC d20', kind: 'mfcc-sum', params: { summary: 'sum' } },
  {
    name: 'landmark d1024 s20/10 N8192 (previous default)',
    label: 'prev. d1024 s20/10',
    kind: 'landmark',
    params: { d: 1024, segmentSeconds: 20, segmentHopSeconds: 10, maxClasses: 4096 },
    he: { polyModulusDegree: 8192, coeffModulusBits: [60, 60] },
  },
  { name: 'landmark d1024 s35/20 N4096', label: 'd1024 s35/20 N4096', kind: 'landmark', params: { d: 1024 } },
  { name: 'landmark d2048 s35/20 N4096 (default)', label: 'dflt d2048 s35/20', kind: 'landmark' },
  { name: 'landmark d4096 s50/40 N8192', label: 'd4096 s50/40 N8192', kind: 'landmark', params: { d: 4096, segmentSeconds: 50, segmentHopSeconds: 40, maxClasses: 1024 } },
  // The default features scored with LWE (its catalogues carry three speed hypotheses per window).
  { name: 'landmark d2048 s35/20 LWE (LWE default)', label: 'LWE d2048 s35/20', kind: 'landmark', scheme: 'lwe' },
] satisfies FrontPointConfigInput[]).map((p) => FrontPointConfig.parse(p));

/** The goal region of the front (issue #9). */
export const FRONT_GOAL = { top1At10dB: 0.8, streamsPerCore: 50 } as const;

const CONDITION_KEYS = {
  '10s-clean': 'top1Clean10s',
  '10s-20dB': 'top1At20dB',
  '10s-10dB': 'top1At10dB',
  '10s-mp3-64k+20dB': 'top1Mp3At20dB',
  '5s-clean': 'top1Clean5s',
  '5s-0dB': 'top1At0dB5s',
} as const;
const NEGATIVES = 'negative-10s';

const firstExisting = (dirs: (string | undefined)[]): string | undefined => dirs.find((d): d is string => !!d && existsSync(d));

interface FrontOptions {
  quick: boolean;
  points: FrontPointConfig[];
  music: string;
  negatives: string;
  evalCli: string;
  out: string;
  reps: number;
  perCondition: number;
  negativeQueries: number;
  maxTracks: number;
  seed: number;
  argv: string[];
  /** The harness's Python (infra/pyenv.sh). */
  python: string;
}

function options(argv: string[]): Omit<FrontOptions, 'python'> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      front: { type: 'boolean' },
      quick: { type: 'boolean' },
      points: { type: 'string' },
      music: { type: 'string' },
      'negatives-dir': { type: 'string' },
      'eval-cli': { type: 'string' },
      out: { type: 'string' },
      reps: { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const names = values.points?.split(',').map((s) => s.trim()).filter(Boolean);
  const points = names ? names.map((n) => {
    const p = FRONT_POINTS.find((q) => q.name === n);
    if (!p) throw new Error(`--points: no point "${n}"; the points are: ${FRONT_POINTS.map((q) => `"${q.name}"`).join(', ')}`);
    return p;
  }) : [...FRONT_POINTS];
  const set = quick ? 'ci' : 'dev';
  const music = firstExisting([values.music, join(REPO, '.cache', 'music', set), `/work/data/${set}`]);
  if (!music) throw new Error(`no ${set} music: pass --music <dir>`);
  const negatives = firstExisting([values['negatives-dir'], join(REPO, '.cache', 'music', 'negatives'), '/work/data/negatives']);
  if (!negatives) throw new Error('no negatives (never-enrolled tracks): pass --negatives-dir <dir>');
  const evalCli = firstExisting([values['eval-cli'], join(REPO, '..', 'shared', 'eval', 'eval-cli.py')]);
  if (!evalCli) throw new Error('no acceptance harness: pass --eval-cli <path to eval-cli.py>');
  const reps = values.reps ? Number(values.reps) : quick ? 3 : 8;
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps: a positive integer');
  return {
    quick, points, music, negatives, evalCli, reps, argv,
    out: values.out ?? (quick ? join(REPO, '.cache', 'bench', 'front-quick') : join(REPO, 'bench', 'results')),
    perCondition: quick ? 10 : 100,
    negativeQueries: quick ? 10 : 100,
    maxTracks: quick ? 8 : 0,
    seed: 7,
  };
}

function conditionsOf(report: EvalCliReport): FrontCondition[] {
  return Object.entries(report.rows).map(([condition, r]) => ({
    condition,
    n: r.n,
    correct: r.correct,
    unknown: r.unknown,
    wrong: r.wrong,
    missing: r.missing,
    rate: r.n > 0 ? round((condition === NEGATIVES ? r.unknown : r.correct) / r.n, 4) : 0,
    offsetWithin2s: r.offset_err.length > 0 ? round(r.offset_err.filter((e) => e <= 2).length / r.offset_err.length, 4) : null,
  }));
}

async function measurePoint(config: FrontPointConfig, o: FrontOptions, log: (s: string) => void): Promise<FrontPoint> {
  const t0 = now();
  const plog = (s: string): void => log(`[${config.name}] ${s}`);
  plog(`eval-cli.py: enrol ${o.maxTracks || 'all'} tracks of ${o.music}, ${o.perCondition} queries per condition, ${o.negativeQueries} negatives, seed ${o.seed}`);
  const run = await runEvalCli({
    point: config, python: o.python, evalCli: o.evalCli, music: o.music, negatives: o.negatives,
    perCondition: o.perCondition, negativeQueries: o.negativeQueries, seed: o.seed, maxTracks: o.maxTracks,
    log: plog, progressEverySeconds: o.quick ? 15 : 60,
  });
  try {
    const { report } = run;
    plog(`eval done in ${run.wallSeconds} s (enrol ${round(report.enroll_s, 0)} s, identify ${round(report.identify_s, 0)} s):\n${run.stdout.trim()}`);
    await run.pruneToCatalog();
    const manifest = await loadManifest(run.catalogDir);
    const cost = await measureCatalogCost({ catalogDir: run.catalogDir, music: o.music, reps: o.reps, log: plog });

    const conditions = conditionsOf(report);
    const byName = new Map(conditions.map((c) => [c.condition, c]));
    const rateOf = (name: string): number => {
      const c = byName.get(name);
      if (!c) throw new Error(`the harness reported no "${name}" row`);
      return c.rate;
    };
    const known = conditions.filter((c) => c.condition !== NEGATIVES);
    const offsets = Object.entries(report.rows).filter(([c]) => c !== NEGATIVES).flatMap(([, r]) => r.offset_err);
    const f = manifest.feature;
    const queries = conditions.reduce((s, c) => s + c.n, 0);
    const point = FrontPoint.parse({
      name: config.name,
      featureKind: f.kind,
      d: manifest.dim,
      classes: manifest.classes.track.length,
      windowSeconds: f.params.windowSeconds,
      hopSeconds: f.params.hopSeconds,
      segmentSeconds: f.kind === 'landmark' ? f.params.segmentSeconds : null,
      segmentHopSeconds: f.kind === 'landmark' ? f.params.segmentHopSeconds : null,
      ...Object.fromEntries(Object.entries(CONDITION_KEYS).map(([cond, key]) => [key, rateOf(cond)])),
      unknownRejected: rateOf(NEGATIVES),
      wrongAnswers: known.reduce((s, c) => s + c.wrong, 0),
      falseAccepts: byName.get(NEGATIVES)?.wrong ?? 0,
      offsetWithin2sClean10s: byName.get('10s-clean')?.offsetWithin2s ?? null,
      offsetWithin2sAll: offsets.length > 0 ? round(offsets.filter((e) => e <= 2).length / offsets.length, 4) : null,
      conditions,
      layout: cost.layout,
      windowsPerCiphertext: cost.windowsPerCiphertext,
      windowsPerQuery: cost.windowsPerQuery,
      queriesPerAudioSecond: cost.queriesPerAudioSecond,
      serverMsPerQuery: cost.serverMsPerQuery,
      serverWallMsPerQuery: cost.serverWallMsPerQuery,
      serverMsPerAudioSecond: cost.serverMsPerAudioSecond,
      streamsPerCore: cost.streamsPerCore,
      queryBytes: cost.queryBytes,
      resultBytesPerQuery: cost.resultBytesPerQuery,
      bytesPerAudioSecond: cost.bytesPerAudioSecond,
      keyBytesPerSession: cost.keyBytesPerSession,
      scheme: manifest.scheme,
      hintBytes: cost.hintBytes,
      heArgmaxAgree: cost.heArgmaxAgree,
      cores: availableParallelism(),
      he: {
        polyModulusDegree: manifest.he.polyModulusDegree,
        coeffModulusBits: manifest.he.coeffModulusBits,
        scaleBits: manifest.he.scaleBits,
        weightScaleBits: manifest.he.weightScaleBits,
      },
      enrolSeconds: round(report.enroll_s, 1),
      identifySeconds: round(report.identify_s, 1),
      queries,
      identifyMsPerQuery: round((1000 * report.identify_s) / Math.max(1, queries), 0),
      timingSeconds: cost.seconds,
      pointSeconds: round((now() - t0) / 1000, 1),
      music: o.music,
      tracks: manifest.tracks.length,
      perCondition: o.perCondition,
      negatives: o.negativeQueries,
      seed: o.seed,
      mode: o.quick ? 'quick' : 'full',
      measuredAt: new Date().toISOString(),
      config,
    });
    plog(`done in ${point.pointSeconds} s: ${pct(point.top1At10dB)} at 10 dB, ${point.streamsPerCore} streams per core`);
    return point;
  } finally {
    await run.dispose();
  }
}

const pct = (v: number | null): string => (v === null ? '–' : `${round(100 * v, 1)}%`);
const kib = (b: number): number => round(b / 1024, 1);

/** Front points already in `file`, or none (a malformed file is reported and replaced). */
async function previous(file: string, log: (s: string) => void): Promise<FrontPoint[]> {
  if (!existsSync(file)) return [];
  const parsed = FrontReport.safeParse(JSON.parse(await readFile(file, 'utf8').catch(() => 'null')));
  if (!parsed.success) {
    log(`${file} does not match FrontReport: it is replaced`);
    return [];
  }
  return parsed.data;
}

/** Points of this run replace same-named ones; the order is FRONT_POINTS', then any others. */
function merge(old: FrontPoint[], fresh: FrontPoint[]): FrontPoint[] {
  const byName = new Map(old.map((p) => [p.name, p]));
  for (const p of fresh) byName.set(p.name, p);
  const order = (p: FrontPoint): number => {
    const i = FRONT_POINTS.findIndex((q) => q.name === p.name);
    return i < 0 ? FRONT_POINTS.length : i;
  };
  return [...byName.values()].sort((a, b) => order(a) - order(b));
}

function markdown(points: FrontPoint[], o: FrontOptions, command: string, seconds: number): string {
  const m = machine();
  const table = mdTable(
    ['point', 'kind', 'd', 'C', 'window / hop s', 'N, q bits', '10 s clean', '20 dB', '10 dB', 'mp3+20 dB', '5 s clean', '5 s 0 dB', 'unknown rejected', 'wrong / false accepts', 'offset ±2 s (10 s clean)',
      'server ms / query', 'server ms / audio s', 'streams / core', 'KiB / audio s', 'keys KiB', 'enrol s', 'identify s', 'point s'],
    points.map((p, i) => [
      `${i + 1} ${p.name}`, p.featureKind, p.d, p.classes, `${p.windowSeconds} / ${p.hopSeconds}`, p.scheme === 'lwe' ? 'LWE n 1024, q 2^32' : `${p.he.polyModulusDegree}, [${p.he.coeffModulusBits.join(',')}]`,
      pct(p.top1Clean10s), pct(p.top1At20dB), pct(p.top1At10dB), pct(p.top1Mp3At20dB), pct(p.top1Clean5s), pct(p.top1At0dB5s), pct(p.unknownRejected),
      `${p.wrongAnswers} / ${p.falseAccepts}`, pct(p.offsetWithin2sClean10s),
      `${p.serverMsPerQuery} (${p.windowsPerQuery} win)`, p.serverMsPerAudioSecond, p.streamsPerCore, kib(p.bytesPerAudioSecond), p.scheme === 'lwe' ? `hint ${kib(p.hintBytes)}` : kib(p.keyBytesPerSession),
      round(p.enrolSeconds, 0), round(p.identifySeconds, 0), round(p.pointSeconds, 0),
    ]),
  );
  const inGoal = points.filter((p) => p.top1At10dB >= FRONT_GOAL.top1At10dB && p.streamsPerCore >= FRONT_GOAL.streamsPerCore);
  const sets = [...new Set(points.map((p) => `${p.music} (${p.tracks} tracks enrolled; ${p.perCondition} queries per condition, ${p.negatives} negatives, seed ${p.seed})`))];
  return [
    `# blindear: recognition quality / server cost front${o.quick ? ' (quick smoke run: not figures to report)' : ''}`,
    '',
    `Command: \`${command}\``,
    '',
    `Machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB; Node ${m.node}, node-seal ${m.nodeSeal}; ${m.platform}. ` +
      `Last run: ${o.points.length} point(s) in ${round(seconds / 60, 1)} min, finished ${new Date().toISOString()} (each point's own time is in front.json, measuredAt).`,
    '',
    `Quality: the acceptance harness \`../shared/eval/eval-cli.py\` through the CLI on ${sets.join('; ')}: ` +
      '`blindear enroll` with the point\'s options in BLINDEAR_ENROLL_KIND / _PARAMS / _HE, then `blindear identify --json` (in-process, encrypted). ' +
      'Rates are right-track answers (negatives: "unknown") over the queries of each condition; "wrong" counts known-track queries named as another track.',
    '',
    `Server cost: the same catalogue, its scorer (CKKS ScoringEngine, or the LWE engine on the calling thread) on a client session's query ciphertexts of real windows of its longest track, main-thread CPU ms per query (validation included), mean after a warm-up. ` +
      `A stream sends a query per min(windows per ciphertext, ${STREAM_BATCH_SECONDS} s of windows) (the encrypt stage's batching): server ms per audio s = ms per query × queries per audio s; streams per core = 1000 / that. ` +
      'KiB per audio s = (query + result ciphertexts) × queries per audio s; keys are sent once per session; an LWE catalogue\'s hint (KiB) is downloaded once per catalogue version.',
    '',
    table,
    '',
    `Goal region (≥ ${100 * FRONT_GOAL.top1At10dB}% at 10 dB and ≥ ${FRONT_GOAL.streamsPerCore} streams per core): ${inGoal.length > 0 ? inGoal.map((p) => p.name).join(', ') : 'no point yet'}.`,
    '',
    '![front](front.svg)',
    '',
  ].join('\n');
}

export function frontSvg(points: FrontPoint[], quick: boolean): string {
  const xs = points.map((p) => p.streamsPerCore).filter((x) => x > 0);
  const xMax = Math.max(FRONT_GOAL.streamsPerCore * 4, ...xs) * 1.5;
  const xMin = Math.min(FRONT_GOAL.streamsPerCore / 4, ...xs) / 1.5;
  // The goal region's edges as beads (x = 50 from 80% up, y = 80% from 50 streams to the right), corner labelled.
  const g = FRONT_GOAL;
  const goal = [
    { x: g.streamsPerCore, y: 100 * g.top1At10dB, label: 'goal ↗' },
    ...[90, 95, 100].map((y) => ({ x: g.streamsPerCore, y })),
    ...[1, 2, 3, 4, 5].map((i) => ({ x: g.streamsPerCore * (xMax / g.streamsPerCore) ** (i / 5), y: 100 * g.top1At10dB })),
  ];
  // One series per point (its own colour and legend entry), labelled by its number in the table.
  return scatterChart({
    title: `blindear front: 10 s @ 10 dB vs real-time streams per core${quick ? ' (quick smoke run)' : ''}`,
    xLabel: 'real-time streams per core, server CPU (log)',
    yLabel: '10 s @ 10 dB: right track (%)',
    xLog: true,
    xRange: [xMin, xMax],
    yRange: [0, 100],
    width: 860,
    height: 480,
    series: [
      ...points.map((p, i) => ({
        name: `${i + 1} ${p.config.label}`,
        points: [{ x: p.streamsPerCore, y: round(100 * p.top1At10dB, 1), label: String(i + 1) }],
      })),
      { name: `goal ≥${g.streamsPerCore}/core, ≥${100 * g.top1At10dB}%`, points: goal },
    ],
  });
}

async function writeAtomically(dir: string, files: [string, string][]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of files) {
    await writeFile(join(dir, `${name}.tmp`), text);
    await rename(join(dir, `${name}.tmp`), join(dir, name));
  }
}

export async function runFront(log: (s: string) => void): Promise<void> {
  const started = now();
  const parsed = options(process.argv.slice(2));
  const python = execFileSync('bash', [join(REPO, 'infra', 'pyenv.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const o: FrontOptions = { ...parsed, python };
  const command = `npx tsc -p . && npm run bench -- ${o.argv.join(' ')}`;
  // Points of the same mode measured by earlier runs stay, unless this run measures them again.
  const kept = (await previous(join(o.out, 'front.json'), log)).filter((p) => p.mode === (o.quick ? 'quick' : 'full'));
  log(`front: ${o.points.length} point(s) (${o.points.map((p) => p.name).join('; ')}), music ${o.music}, out ${o.out}`);
  const fresh: FrontPoint[] = [];
  for (const [i, config] of o.points.entries()) {
    log(`front: point ${i + 1}/${o.points.length}, ${round((now() - started) / 60_000, 1)} min so far`);
    fresh.push(await measurePoint(config, o, log));
    const all = merge(kept, fresh);
    await writeAtomically(o.out, [
      ['front.json', `${JSON.stringify(FrontReport.parse(all), null, 2)}\n`],
      ['front.md', markdown(all, o, command, (now() - started) / 1000)],
      ['front.svg', frontSvg(all, o.quick)],
    ]);
    log(`front: wrote ${join(o.out, 'front.{json,md,svg}')}`);
  }
  process.stdout.write(markdown(merge(kept, fresh), o, command, (now() - started) / 1000));
}
