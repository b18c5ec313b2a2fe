/**
 * The evaluation report as text: an aligned table for the terminal and a Markdown document (eval.md),
 * both from the same rows so they never disagree.
 */
import type { ConditionSummary, EvalReport } from '../../schemas/eval.js';

const HEADER = ['condition', 'n', 'top-1', 'top-3', 'unknown', 'wrong', 'rejected right', 'offset ±2 s', 'enc≠plain'];

const pct = (r: number | null): string => (r === null ? '—' : `${(100 * r).toFixed(1)}%`);

function row(s: ConditionSummary): string[] {
  return [
    s.name,
    String(s.n),
    pct(s.rates.top1),
    pct(s.rates.top3),
    pct(s.rates.unknown),
    String(s.wrong),
    String(s.rejectedRight),
    pct(s.rates.offsetWithin2s),
    String(s.encryptedDiffers),
  ];
}

function negativeRow(s: ConditionSummary): string[] {
  return [`${s.name} (must be unknown)`, String(s.n), '—', '—', pct(s.rates.unknown), String(s.wrong), '—', '—', String(s.encryptedDiffers)];
}

function rows(r: EvalReport): string[][] {
  return [...r.conditions.map(row), negativeRow(r.negatives.summary)];
}

/** Facts a reader needs to interpret or repeat the table. */
function facts(r: EvalReport): string[] {
  const c = r.catalogue;
  const neg = r.negatives.summary;
  const he = `N ${c.he.polyModulusDegree}, primes [${c.he.coeffModulusBits.join(', ')}], scales 2^${c.he.scaleBits}/2^${c.he.weightScaleBits}`;
  const differs = r.conditions.reduce((a, s) => a + s.encryptedDiffers, neg.encryptedDiffers);
  const total = r.conditions.reduce((a, s) => a + s.n, neg.n);
  return [
    `catalogue: ${c.tracks} tracks, ${c.classes} classes × d ${c.dim}, kind ${c.kind}, model ${c.modelId} (${c.enrolledHere ? `enrolled by this run in ${c.enrolSeconds?.toFixed(0)} s` : 'given'}: ${c.dir})`,
    c.scheme === 'lwe' && c.lwe
      ? `encryption: LWE n ${c.lwe.n}, q 2^32, σ 6.4, weights ${c.lwe.weightBits} bits, ≤ ${c.lwe.maxWindowsPerQuery} windows per query`
      : `encryption: CKKS ${he}`,
    `threshold: ${c.threshold.name} ≥ ${Number(c.threshold.value.toFixed(4))}`,
    `queries drawn from: ${r.querySource.packages ? `held-out packages ${r.querySource.packages.join(', ')}` : 'every enrolled track'} (${r.querySource.tracks} tracks); same excerpts under every condition of a length`,
    `negatives: ${neg.n} excerpts of ${r.negatives.queryTracks.length} never-enrolled tracks, ${pct(neg.rates.unknown)} rejected (false accepts ${neg.wrong}); ` +
      (r.conditions.some((c) => /-babble-/.test(c.name))
        ? `babble: mixes of ${r.negatives.babbleVoices} excerpts from the other ${r.negatives.babbleTracks.length} never-enrolled tracks (disjoint from the negative queries)`
        : `the other ${r.negatives.babbleTracks.length} never-enrolled tracks are kept for babble (not measured)`),
    `encrypted answer differs from clear-text answer: ${differs} of ${total} queries`,
    `seeds: queries ${r.seeds.queries}, enrolment ${r.seeds.enrolment ?? '—'}`,
    `time: ${r.timing.wallSeconds.toFixed(0)} s wall, ${r.timing.workers} workers, ${r.timing.queries} queries, server scoring ${r.timing.meanServerMs?.toFixed(0) ?? '—'} ms/query (wall clock)`,
    ...(r.unavailable.length ? [`not run: ${r.unavailable.map((u) => `${u.condition} (${u.reason})`).join('; ')}`] : []),
    ...(r.skipped.length ? [`skipped files: ${r.skipped.map((s) => `${s.path} (${s.reason})`).join('; ')}`] : []),
    ...(r.undrawn ? [`query slots without an excerpt (track too short or silent): ${r.undrawn}`] : []),
  ];
}

const LEGEND =
  'top-1: accepted and right; top-3: right track among the decision\'s first 3 before the unknown threshold; ' +
  'unknown: answered unknown (for known excerpts, the false-reject rate); wrong: accepted but another track ' +
  '(for never-enrolled excerpts, false accepts); rejected right: unknown although the best track was right; ' +
  'offset ±2 s: of the right answers; enc≠plain: encrypted answer (track or unknown) differs from the clear-text scorer\'s.';

export function renderText(r: EvalReport): string {
  const all = [HEADER, ...rows(r)];
  const widths = HEADER.map((_, i) => Math.max(...all.map((cells) => cells[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows(r).map(line), '', ...facts(r), '', LEGEND, ''].join('\n');
}

export function renderMarkdown(r: EvalReport): string {
  const md = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    '# Recognition quality (`blindear eval`)',
    '',
    md(HEADER),
    md(HEADER.map((_, i) => (i === 0 ? '---' : '---:'))),
    ...rows(r).map(md),
    '',
    ...facts(r).map((f) => `- ${f}`),
    '',
    LEGEND,
    '',
  ].join('\n');
}
