/**
 * `blindear eval`: the recognition-quality harness (DESIGN.md §5). Prints the per-condition table on
 * stdout and writes eval.json, eval.md and eval.svg into --out-dir.
 */
import type { Command } from 'commander';
import { BlindearError } from '../errors.js';
import { DEFAULT_CONDITIONS, parseConditions } from '../eval/conditions.js';
import { writeEvalReport } from '../eval/report-files.js';
import { renderText } from '../eval/report-table.js';
import { runEvaluation } from '../eval/run-eval.js';
import type { FeatureKindName } from '../model/enroll.js';
import { createLogger } from '../runtime/logger.js';
import { resolveEnrollChoice } from './enroll.js';

export interface EvalCliOptions {
  negatives: string;
  queryPackages?: string;
  perCondition: number;
  negativesCount: number;
  seed: number;
  conditions?: string;
  kind: FeatureKindName;
  param?: string[];
  he?: string[];
  catalog?: string;
  enrolInto: string;
  outDir: string;
  workers: number;
  logLevel: string;
}

const list = (s: string | undefined): string[] | undefined => s?.split(',').map((x) => x.trim()).filter(Boolean);

export async function runEval(musicDir: string, opts: EvalCliOptions, command?: Command): Promise<void> {
  const kindGiven = command ? command.getOptionValueSource('kind') !== 'default' : false;
  const enrolIntoGiven = command ? command.getOptionValueSource('enrolInto') !== 'default' : false;
  if (opts.catalog && (kindGiven || enrolIntoGiven || opts.param?.length || opts.he?.length)) {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', '--kind, --param, --he and --enrol-into are for enrolment; they do not apply to an existing --catalog');
  }
  if (opts.perCondition < 1) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', '--per-condition must be at least 1');
  if (opts.workers < 1) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', '--workers must be at least 1');
  const conditions = parseConditions(list(opts.conditions) ?? DEFAULT_CONDITIONS);
  // Same precedence as `blindear enroll`: flags over BLINDEAR_ENROLL_* over the kind's defaults.
  const enrol = opts.catalog ? undefined : resolveEnrollChoice(process.env, { kind: kindGiven ? opts.kind : undefined, param: opts.param, he: opts.he });
  const logger = createLogger(opts.logLevel, { command: 'eval' });
  const report = await runEvaluation({
    musicDir,
    negativesDir: opts.negatives,
    queryPackages: list(opts.queryPackages),
    perCondition: opts.perCondition,
    negativesCount: opts.negativesCount,
    seed: opts.seed,
    conditions,
    catalogDir: opts.catalog,
    enrolInto: opts.enrolInto,
    enrol: enrol && { kind: enrol.kind, params: enrol.params, he: enrol.he },
    outDir: opts.outDir,
    workers: opts.workers,
    logger,
  });
  const files = await writeEvalReport(opts.outDir, report);
  process.stdout.write(renderText(report));
  process.stderr.write(`wrote ${files.json}, ${files.markdown}, ${files.svg}\n`);
}
