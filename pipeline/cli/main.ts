/**
 * The `blindear` command line (DESIGN.md §6: names and the `identify --json` shape are a contract).
 * Data goes to stdout, logs to stderr; any failure prints one line with the reason and exits non-zero.
 */
import { availableParallelism } from 'node:os';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { isBlindearError } from '../errors.js';
import { VERSION } from '../version.js';
import { DEFAULT_CONDITIONS } from '../eval/conditions.js';
import { ENROLL_ENV_HELP, runEnroll } from './enroll.js';
import { runEval } from './eval.js';
import { runIdentify } from './identify.js';
import { runMixRadio } from './mix-radio.js';
import { runStream } from './stream.js';
import { runTopicsCreate } from './topics.js';
import { runWorker } from './worker.js';
import { applyHabits, BlindearCommand } from './habits.js';

const parseIntArg = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('not a non-negative integer');
  return n;
};

/** A fresh option per command: commander's Option is mutable, so one shared instance would share defaults. */
const logLevel = (byDefault = 'warn'): Option =>
  new Option('--log-level <level>', 'log level on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default(byDefault);

export function buildProgram(): Command {
  const program = new BlindearCommand('blindear')
    .description('Song recognition where the recognising server never hears the song.')
    .version(VERSION, '-V, --version', 'print the version')
    .addHelpText('after', '\nEvery option can also be set by an environment variable, shown as (env: ...) in each command\'s --help.\nExit codes: 0 done, 1 failure at run time, 2 usage error.')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program.command('enroll')
    .description('decode, extract and train: write a catalogue from folders or files of audio')
    .argument('<inputs...>', 'folders (searched recursively) or audio files')
    .requiredOption('--catalog <dir>', 'catalogue folder to write')
    .addOption(new Option('--kind <kind>', 'feature kind').choices(['landmark', 'mfcc-sum']).default('landmark'))
    .option('--param <key=value...>', 'override a feature parameter (JSON values), e.g. --param d=1024')
    .option('--he <key=value...>', 'override an encryption parameter (JSON values), e.g. --he coeffModulusBits=[60,60] scaleBits=30')
    .option('--seed <n>', 'seed of the calibration excerpts', parseIntArg, 7)
    .addOption(logLevel('info'))
    .addHelpText('after', ENROLL_ENV_HELP)
    .action(runEnroll);

  program.command('identify')
    .description('encrypt locally, score on ciphertexts, decrypt and answer for each file')
    .argument('<files...>', 'audio files (any format ffmpeg reads)')
    .requiredOption('--catalog <dir>', 'catalogue folder')
    .option('--json', 'one JSON object per input line: {"input", "match"}')
    .option('--brokers <list>', 'score through Kafka workers at these brokers instead of in-process')
    .option('--timeout-ms <ms>', 'with --brokers: give up on a file after this long', parseIntArg, 120_000)
    .addOption(logLevel())
    .action(runIdentify);

  program.command('stream')
    .description('run the continuous client pipeline on a source and print predictions as they arrive')
    .argument('<source>', 'file, http(s) URL, or - for stdin')
    .requiredOption('--catalog <dir>', 'catalogue folder')
    .requiredOption('--brokers <list>', 'Kafka bootstrap servers, host:port[,host:port]')
    .option('--session <id>', 'session id (default: a fresh random one)')
    .option('--output <target>', 'predictions as JSON lines to a file, - (stdout) or an http(s) webhook URL', '-')
    .addOption(new Option('--format <format>', 'predictions on stdout as JSON lines or readable text').choices(['json', 'text']).default('json'))
    .option('--realtime', 'pace a file source at real time, as a live stream would arrive')
    .option('--station <name>', 'the station label of this source\'s metrics', 'stream')
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port', parseIntArg)
    .addOption(logLevel())
    .action(runStream);

  program.command('worker')
    .description('run one server-zone stage in its consumer group')
    .addArgument(new Argument('<stage>', 'stage to run').choices(['scorer']))
    .requiredOption('--brokers <list>', 'Kafka bootstrap servers')
    .requiredOption('--catalog <dir>', 'catalogue folder (the scorer loads its model)')
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port', parseIntArg)
    .addOption(logLevel('info'))
    .action(runWorker);

  program.command('topics')
    .description('create every blindear topic (and its dead-letter topic) with an explicit partition count')
    .requiredOption('--brokers <list>', 'Kafka bootstrap servers')
    .option('--partitions <n>', 'partitions per topic', parseIntArg, 2)
    .addOption(logLevel())
    .action(runTopicsCreate);

  program.command('eval')
    .description('recognition quality: enrol, then identify seeded, distorted excerpts encrypted and in clear, and report per condition')
    .argument('<music-dir>', 'folder of music to enrol (top-level folders are packages)')
    .requiredOption('--negatives <dir>', 'folder of never-enrolled music: half makes babble noise, half must come out unknown')
    .option('--query-packages <list>', 'draw queries only from these top-level folders (held-out packages), comma-separated')
    .option('--per-condition <n>', 'queries per condition', parseIntArg, 100)
    .option('--negatives-count <n>', 'never-enrolled 10 s excerpts', parseIntArg, 100)
    .option('--seed <n>', 'seed of queries, noise and enrolment calibration', parseIntArg, 7)
    .option('--conditions <list>', `comma-separated conditions (default: ${DEFAULT_CONDITIONS.join(',')})`)
    .addOption(new Option('--kind <kind>', 'feature kind to enrol with').choices(['landmark', 'mfcc-sum']).default('landmark'))
    .option('--param <key=value...>', 'override a feature parameter at enrolment (JSON values)')
    .option('--he <key=value...>', 'override an encryption parameter at enrolment (JSON values)')
    .option('--catalog <dir>', 'use this catalogue (enrolled from <music-dir>) instead of enrolling')
    .option('--enrol-into <dir>', 'where the enrolled catalogue is written (reuse it with --catalog)', '.cache/eval/catalog')
    .option('--out-dir <dir>', 'where eval.json, eval.md and eval.svg go', 'bench/results/eval')
    .option('--workers <n>', 'worker threads identifying queries', parseIntArg, availableParallelism())
    .addOption(logLevel('info'))
    .action(runEval);

  program.command('mix-radio')
    .description('make a "radio" programme: catalogue excerpts at random offsets, a never-enrolled track, silence and noise between')
    .requiredOption('--catalog-dir <dir>', 'folder of enrolled music')
    .requiredOption('--tracks <paths...>', 'tracks (relative to --catalog-dir) to take excerpts from')
    .option('--unknown <file>', 'a never-enrolled track to include')
    .requiredOption('--out <file>', 'output WAV file; the truth is written beside it as <out>.truth.json')
    .option('--excerpt-seconds <s>', 'length of each excerpt', parseIntArg, 25)
    .option('--seed <n>', 'random seed', parseIntArg, 7)
    .action(runMixRadio);

  return applyHabits(program);
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors were already printed by commander and exit 2.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    const msg = isBlindearError(err) ? `${err.message} (${err.code})` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`blindear: ${msg}\n`);
    process.exitCode = 1;
  }
}
