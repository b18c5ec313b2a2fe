import { enrollCatalog, type FeatureKindName } from '../model/enroll.js';
import { createLogger } from '../runtime/logger.js';
import { BlindearError } from '../errors.js';

/** `--param key=value`: values are JSON when they parse as JSON (numbers, arrays), strings otherwise. */
export function parseParams(pairs: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `--param ${pair}: expected key=value`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try { value = JSON.parse(raw); } catch { /* a plain string */ }
    out[key] = value;
  }
  return out;
}

export async function runEnroll(
  inputs: string[],
  opts: { catalog: string; kind: FeatureKindName; param?: string[]; he?: string[]; seed: number; logLevel: string },
): Promise<void> {
  const logger = createLogger(opts.logLevel, { command: 'enroll' });
  const m = await enrollCatalog({ inputs, catalogDir: opts.catalog, kind: opts.kind, params: parseParams(opts.param), he: parseParams(opts.he), seed: opts.seed, logger });
  process.stdout.write(
    `enrolled ${m.tracks.length} tracks (${m.skipped.length} skipped) into ${opts.catalog}: kind ${m.feature.kind}, ` +
    `${m.classes.track.length} classes x ${m.dim} features, model ${m.modelId}\n`,
  );
}
