/**
 * Progress of a long run on stderr (stdout carries the results): a live bar on a terminal, and outside
 * one (a pipe, a log file, CI=true) a plain line about every 10%, which a log keeps readable.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  increment(by?: number): void;
  /** Adds work discovered on the way (the total is not always known up front). */
  addTotal(by: number): void;
  stop(): void;
}

export interface ProgressOptions {
  label: string;
  total: number;
  stream?: NodeJS.WriteStream;
  /** Defaults to: a TTY and not CI. */
  interactive?: boolean;
}

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const interactive = opts.interactive ?? (stream.isTTY === true && process.env.CI !== 'true');
  return interactive ? barProgress(opts, stream) : lineProgress(opts, stream);
}

function barProgress(opts: ProgressOptions, stream: NodeJS.WriteStream): Progress {
  const bar = new cliProgress.SingleBar({
    stream,
    format: `${opts.label} [{bar}] {percentage}% | {value}/{total} | {duration_formatted} elapsed, ETA {eta_formatted}`,
    hideCursor: true,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  let total = opts.total;
  bar.start(total, 0);
  return {
    increment: (by = 1) => bar.increment(by),
    addTotal: (by) => { total += by; bar.setTotal(total); },
    stop: () => bar.stop(),
  };
}

function lineProgress(opts: ProgressOptions, stream: NodeJS.WriteStream): Progress {
  const started = Date.now();
  let total = opts.total;
  let done = 0;
  let nextTenth = 1;
  const line = (): void => {
    const s = (Date.now() - started) / 1000;
    stream.write(`${opts.label}: ${done}/${total} (${Math.floor((100 * done) / Math.max(1, total))}%), ${s.toFixed(0)} s\n`);
  };
  return {
    increment(by = 1) {
      done += by;
      let crossed = false;
      while (total > 0 && done >= (nextTenth * total) / 10 && nextTenth <= 10) { nextTenth++; crossed = true; }
      if (crossed) line();
    },
    addTotal(by) { total += by; },
    stop() { if (done < total) line(); },
  };
}
