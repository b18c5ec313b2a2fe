import type { Command } from 'commander';
import { z } from 'zod';
import { loadEnrollDefaults } from '../../schemas/config.js';
import { LandmarkParams } from '../../schemas/feature-landmark.js';
import { mfccSumDim, MfccSumParams } from '../../schemas/feature-mfcc.js';
import { enrollCatalog, heParamsFor, type FeatureKindName } from '../model/enroll.js';
import { createLogger, resolveLogFormat } from '../runtime/logger.js';
import { progressBar } from './progress.js';
import { BlindearError } from '../errors.js';

/** `blindear enroll --help` epilogue: the environment defaults (schemas/config.ts, EnrollEnv). */
export const ENROLL_ENV_HELP = `
Environment (defaults for the options above; command-line flags win):
  BLINDEAR_ENROLL_KIND    feature kind, landmark or mfcc-sum (--kind wins)
  BLINDEAR_ENROLL_PARAMS  JSON object of feature parameters, as repeated --param,
                          e.g. '{"d":1024,"segmentSeconds":20}' (a --param key wins over the same key)
  BLINDEAR_ENROLL_HE      JSON object of encryption parameters, as repeated --he,
                          e.g. '{"polyModulusDegree":8192,"coeffModulusBits":[60,60]}' (an --he key wins)
  BLINDEAR_ENROLL_SCHEME  ckks or lwe (--scheme wins)
A malformed value stops the command before any audio is read.`;

/** `--param key=value`: values are JSON when they parse as JSON (numbers, arrays), strings otherwise. */
export function parseParams(pairs: readonly string[] = [], flag = '--param'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `${flag} ${pair}: expected key=value`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try { value = JSON.parse(raw); } catch { /* a plain string */ }
    out[key] = value;
  }
  return out;
}

export interface EnrollChoice {
  kind: FeatureKindName;
  params: Record<string, unknown>;
  he: Record<string, unknown>;
  /** Where each part came from, for the log. */
  sources: { kind: 'flag' | 'env' | 'default'; params: string[]; he: string[] };
}

const oneLine = (err: z.ZodError): string => err.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ');

/**
 * The enrolment options: command-line flags over the environment (BLINDEAR_ENROLL_*) over the kind's
 * defaults, checked here against the kind's schema and the encryption parameters' schema, so that a bad
 * value is one line naming where it came from, before any audio is decoded.
 */
export function resolveEnrollChoice(
  env: NodeJS.ProcessEnv,
  flags: { kind?: FeatureKindName; param?: readonly string[]; he?: readonly string[] },
): EnrollChoice {
  const defaults = loadEnrollDefaults(env);
  const flagParams = parseParams(flags.param, '--param');
  const flagHe = parseParams(flags.he, '--he');
  const kind = flags.kind ?? defaults.kind ?? 'landmark';
  const params = { ...defaults.params, ...flagParams };
  const he = { ...defaults.he, ...flagHe };
  const from = (envPart: object, flagPart: object, envName: string, flag: string): string[] =>
    [Object.keys(envPart).length > 0 ? envName : '', Object.keys(flagPart).length > 0 ? flag : ''].filter(Boolean);
  const sources = {
    kind: flags.kind ? 'flag' as const : defaults.kind ? 'env' as const : 'default' as const,
    params: from(defaults.params, flagParams, 'BLINDEAR_ENROLL_PARAMS', '--param'),
    he: from(defaults.he, flagHe, 'BLINDEAR_ENROLL_HE', '--he'),
  };
  const where = (s: string[]): string => (s.length > 0 ? ` (${s.join(', ')})` : '');

  const shape = (): { hopSeconds: number; dim: number } => {
    if (kind === 'landmark') {
      const p = LandmarkParams.parse(params);
      return { hopSeconds: p.hopSeconds, dim: p.d };
    }
    const p = MfccSumParams.parse(params);
    return { hopSeconds: p.hopSeconds, dim: mfccSumDim(p) };
  };
  let f: { hopSeconds: number; dim: number };
  try {
    f = shape();
  } catch (err) {
    if (!(err instanceof z.ZodError)) throw err;
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `${kind} parameters${where(sources.params)}: ${oneLine(err)}`);
  }
  try {
    heParamsFor(kind, f.hopSeconds, f.dim, he);
  } catch (err) {
    if (!(err instanceof z.ZodError)) throw err;
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `encryption parameters${where(sources.he)}: ${oneLine(err)}`);
  }
  return { kind, params, he, sources };
}

export async function runEnroll(
  inputs: string[],
  opts: { catalog: string; kind: FeatureKindName; param?: string[]; he?: string[]; scheme?: string; seed: number; logLevel: string },
  command?: Command,
): Promise<void> {
  // --kind has a default in commander: only a kind typed on the command line beats BLINDEAR_ENROLL_KIND.
  const kindFlag = command && command.getOptionValueSource('kind') === 'default' ? undefined : opts.kind;
  const choice = resolveEnrollChoice(process.env, { kind: kindFlag, param: opts.param, he: opts.he });
  const scheme = opts.scheme ?? process.env.BLINDEAR_ENROLL_SCHEME ?? 'ckks';
  if (scheme !== 'ckks' && scheme !== 'lwe') throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `scheme ${JSON.stringify(scheme)} (BLINDEAR_ENROLL_SCHEME): expected ckks or lwe`);
  const logger = createLogger(opts.logLevel, { command: 'enroll' });
  logger.info({ kind: choice.kind, scheme, params: choice.params, he: choice.he, sources: choice.sources }, 'enrolment options');
  // On a terminal, a progress bar with an ETA instead of the periodic log lines.
  const bar = resolveLogFormat() === 'pretty' ? progressBar('enrolling') : undefined;
  let m;
  try {
    m = await enrollCatalog({
      inputs, catalogDir: opts.catalog, kind: choice.kind, params: choice.params, he: choice.he, scheme, seed: opts.seed,
      logger: bar ? createLogger('warn', { command: 'enroll' }) : logger, onProgress: bar?.update,
    });
  } finally {
    bar?.stop();
  }
  process.stdout.write(
    `enrolled ${m.tracks.length} tracks (${m.skipped.length} skipped) into ${opts.catalog}: kind ${m.feature.kind}, ` +
    `${m.classes.track.length} classes x ${m.dim} features, scheme ${m.scheme}, model ${m.modelId}\n`,
  );
}
