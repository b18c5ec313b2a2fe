/** A progress bar with an ETA on stderr (cli-progress), for long commands run on a terminal. */
import cliProgress from 'cli-progress';

export interface ProgressBar {
  update: (done: number, of: number) => void;
  stop: () => void;
}

export function progressBar(label: string): ProgressBar {
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | {duration_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 20,
    clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update(done, of) {
      if (!started) { bar.start(of, 0); started = true; }
      bar.setTotal(of);
      bar.update(done);
    },
    stop() { if (started) bar.stop(); },
  };
}
