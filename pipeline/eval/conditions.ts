/**
 * Query conditions of the evaluation (DESIGN.md §5) and their names: `<seconds>s-<distortion>`, e.g.
 * `10s-clean`, `10s-white-10dB`, `5s-babble-0dB`, `10s-mp3-64k`, `10s-speed+2%`, `10s-telephone`,
 * `10s-gain-20dB`, `10s-tempo+3%` (pitch kept), `10s-speech-6dB` (a voice 6 dB below the music). A name is the whole definition, so `--conditions` can ask for any combination.
 */
import { EvalCondition, type Distortion } from '../../schemas/eval.js';
import { BlindearError } from '../errors.js';

/**
 * The default grid: every distortion on 10 s excerpts; the hardest ones (and clean, as the reference)
 * on 5 s excerpts too. 5 s × every distortion would double the run for little more insight.
 */
export const DEFAULT_CONDITIONS: readonly string[] = [
  '10s-clean',
  '10s-white-20dB', '10s-white-10dB', '10s-white-0dB',
  '10s-babble-20dB', '10s-babble-10dB', '10s-babble-0dB',
  '10s-mp3-64k', '10s-opus-64k',
  '10s-speed+1%', '10s-speed-1%', '10s-speed+2%', '10s-speed-2%',
  '10s-speed+3%', '10s-speed-3%', '10s-speed+4%', '10s-speed-4%',
  '10s-tempo+3%', '10s-tempo-3%',
  '10s-speech-0dB', '10s-speech-6dB',
  '10s-bandpass', '10s-telephone',
  '10s-gain-20dB', '10s-gain+6dB',
  '5s-clean', '5s-white-0dB', '5s-babble-0dB',
];

/** Length of the never-enrolled excerpts that must come out unknown. */
export const NEGATIVE_SECONDS = 10;
export const NEGATIVES_CONDITION = `${NEGATIVE_SECONDS}s-never-enrolled`;

const NUM = '(-?\\d+(?:\\.\\d+)?)';

const PATTERNS: { re: RegExp; make: (m: RegExpExecArray) => Distortion }[] = [
  { re: /^clean$/, make: () => ({ kind: 'clean' }) },
  { re: new RegExp(`^white-${NUM}dB$`), make: (m) => ({ kind: 'white', snrDb: Number(m[1]) }) },
  { re: new RegExp(`^babble-${NUM}dB$`), make: (m) => ({ kind: 'babble', snrDb: Number(m[1]) }) },
  { re: /^(mp3|opus)-(\d+)k$/, make: (m) => ({ kind: 'codec', codec: m[1] as 'mp3' | 'opus', bitrateKbps: Number(m[2]) }) },
  { re: /^speed([+-]\d+(?:\.\d+)?)%$/, make: (m) => ({ kind: 'speed', percent: Number(m[1]) }) },
  { re: /^tempo([+-]\d+(?:\.\d+)?)%$/, make: (m) => ({ kind: 'tempo', percent: Number(m[1]) }) },
  { re: new RegExp(`^speech-${NUM}dB$`), make: (m) => ({ kind: 'speech', snrDb: Number(m[1]) }) },
  { re: /^bandpass$/, make: () => ({ kind: 'bandpass' }) },
  { re: /^telephone$/, make: () => ({ kind: 'telephone' }) },
  { re: /^gain([+-]\d+(?:\.\d+)?)dB$/, make: (m) => ({ kind: 'gain', db: Number(m[1]) }) },
];

/** Parses `10s-white-10dB` and the like; BLINDEAR_ERR_CONFIG_INVALID names what is wrong. */
export function parseCondition(name: string): EvalCondition {
  const m = /^(\d+(?:\.\d+)?)s-(.+)$/.exec(name.trim());
  const bad = (why: string) => new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `condition '${name}': ${why}`);
  if (!m) throw bad('expected <seconds>s-<distortion>, e.g. 10s-white-10dB');
  const seconds = Number(m[1]);
  if (!(seconds >= 1 && seconds <= 60)) throw bad('excerpt length must be 1 to 60 s');
  for (const p of PATTERNS) {
    const d = p.re.exec(m[2]);
    if (!d) continue;
    const parsed = EvalCondition.safeParse({ name: name.trim(), seconds, distortion: p.make(d) });
    if (!parsed.success) throw bad(parsed.error.issues.map((i) => i.message).join('; '));
    return parsed.data;
  }
  throw bad('unknown distortion; known: clean, white-<snr>dB, babble-<snr>dB, mp3-<kbps>k, opus-<kbps>k, speed±<p>%, tempo±<p>%, speech-<snr>dB, bandpass, telephone, gain±<db>dB');
}

/** Parses a list of names, rejecting duplicates. */
export function parseConditions(names: readonly string[]): EvalCondition[] {
  const seen = new Set<string>();
  return names.map((n) => {
    const c = parseCondition(n);
    if (seen.has(c.name)) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `condition '${c.name}' given twice`);
    seen.add(c.name);
    return c;
  });
}

/** Distinct excerpt lengths of a set of conditions, longest first. */
export function excerptLengths(conditions: readonly EvalCondition[]): number[] {
  return [...new Set(conditions.map((c) => c.seconds))].sort((a, b) => b - a);
}
