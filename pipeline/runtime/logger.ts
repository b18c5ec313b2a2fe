/**
 * Logs on stderr (stdout carries data: predictions, JSON answers): one JSON line per event, or, on a
 * terminal, one compact readable line (`12:00:01.234 INFO  stream  session started  key=value`).
 * `--log-format json|pretty|auto` (BLINDEAR_LOG_FORMAT) chooses; auto is pretty on a TTY only.
 * Payloads, keys and feature values are never logged; redaction covers the fields that could carry
 * them by mistake.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export type LogFormat = 'json' | 'pretty' | 'auto';
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

let processFormat: LogFormat = 'auto';

/** The format of every logger this process creates from now on (set once by the CLI entry point). */
export function setLogFormat(format: LogFormat): void {
  processFormat = format;
}

export function resolveLogFormat(format: LogFormat = processFormat, isTty = process.stderr.isTTY === true): 'json' | 'pretty' {
  return format === 'auto' ? (isTty ? 'pretty' : 'json') : format;
}

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'], 20: ['DEBUG', '\x1b[36m'], 30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'], 50: ['ERROR', '\x1b[31m'], 60: ['FATAL', '\x1b[41m'],
};
const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'command', 'component', 'kafkajs']);

function value(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v) ?? String(v);
}

/** One pino JSON line as a compact readable line (exported for tests). */
export function prettyLine(json: string, color = false): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const [name, tint] = LEVELS[Number(o.level)] ?? ['LOG  ', ''];
  const time = typeof o.time === 'string' ? o.time.slice(11, 23) : new Date(Number(o.time) || Date.now()).toISOString().slice(11, 23);
  const where = [o.command, o.component ?? o.kafkajs].filter((x) => typeof x === 'string' && x).join('/');
  const fields = Object.entries(o).filter(([k]) => !OMITTED.has(k)).map(([k, v]) => `${k}=${value(v)}`).join(' ');
  const level = color ? `${tint}${name}\x1b[0m` : name;
  const dim = (s: string): string => (color && s ? `\x1b[2m${s}\x1b[0m` : s);
  return `${dim(time)} ${level} ${where ? `${dim(where)}  ` : ''}${String(o.msg ?? '')}${fields ? `  ${dim(fields)}` : ''}\n`;
}

function prettyDestination(fd: number, color: boolean): DestinationStream {
  const out = pino.destination({ fd, sync: true });
  return { write: (line: string) => { out.write(prettyLine(line, color)); } };
}

export function createLogger(level: string, bindings: Record<string, unknown> = {}, format: LogFormat = processFormat): Logger {
  const pretty = resolveLogFormat(format) === 'pretty';
  return pino(
    {
      level,
      base: { ...bindings },
      redact: { paths: ['value', 'payload', 'secretKey', '*.value', '*.payload'], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pretty ? prettyDestination(2, process.stderr.isTTY === true) : pino.destination({ fd: 2, sync: true }),
  );
}
