/**
 * Writes a report's three files into a folder: eval.json (the whole report, every query), eval.md (the
 * table and the facts to read it by) and eval.svg (top-1 against SNR).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EvalReport } from '../../schemas/eval.js';
import { renderSnrPlot } from './report-plot.js';
import { renderMarkdown } from './report-table.js';

export interface EvalReportFiles {
  json: string;
  markdown: string;
  svg: string;
}

export async function writeEvalReport(outDir: string, report: EvalReport): Promise<EvalReportFiles> {
  await mkdir(outDir, { recursive: true });
  const files = { json: join(outDir, 'eval.json'), markdown: join(outDir, 'eval.md'), svg: join(outDir, 'eval.svg') };
  await writeFile(files.json, reportJson(report));
  await writeFile(files.markdown, renderMarkdown(report));
  await writeFile(files.svg, renderSnrPlot(report));
  return files;
}

/** Indented summary, then one line per query: readable, and diffable between two runs. */
function reportJson(report: EvalReport): string {
  const { queries, ...summary } = report;
  const head = JSON.stringify(summary, null, 1).replace(/\n}$/, '');
  return `${head},\n "queries": [\n${queries.map((q) => `  ${JSON.stringify(q)}`).join(',\n')}\n ]\n}\n`;
}
