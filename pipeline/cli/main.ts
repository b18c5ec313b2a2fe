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
import { runMonitor } from './monitor.js';
import { runClientWorker } from './client-worker.js';
import { runBroadcastEval } from './broadcast-eval.js';
import { runTopicsCreate } from './topics.js';
import { runWorker } from './worker.js';
import { runShardCatalog } from './shard-catalog.js';
import { applyHabits, BlindearCommand, commandSettled } from './habits.js';

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
    .addOption(new Option('--scheme <scheme>', 'how queries are scored: ckks (per-session evaluation keys) or lwe (linearly homomorphic LWE with the catalogue\'s hint; landmark only, ~700x cheaper to score)').choices(['ckks', 'lwe']))
    .option('--seed <n>', 'seed of the calibration excerpts', parseIntArg, 7)
    .addOption(logLevel('info'))
    .addHelpText('after', ENROLL_ENV_HELP)
    .action(runEnroll);

  program.command('shard-catalog')
    .description('split an LWE catalogue into shards of contiguous classes, each served by a scorer worker group of its own (the client keeps the whole catalogue in --out)')
    .requiredOption('--catalog <dir>', 'catalogue folder to split (enrolled with --scheme lwe)')
    .requiredOption('--shards <n>', 'number of shards (2 or more)', parseIntArg)
    .requiredOption('--out <dir>', 'folder to write: the whole catalogue listing its shards, and shard-<i>-of-<n>/ folders for the workers')
    .addOption(logLevel('info'))
    .action(runShardCatalog);

  program.command('identify')
    .description('encrypt locally, score on ciphertexts, decrypt and answer for each file')
    .argument('<files...>', 'audio files (any format ffmpeg reads)')
    .requiredOption('--catalog <dir>', 'catalogue folder')
    .option('--json', 'one JSON object per input line: {"input", "match"}')
    .option('--brokers <list>', 'score through Kafka workers at these brokers instead of in-process')
    .option('--timeout-ms <ms>', 'with --brokers: give up on a file after this long', parseIntArg, 120_000)
    .addOption(logLevel())
    .action(runIdentify);

  const brokerOptions = (cmd: Command): Command => cmd
    .addOption(new Option('--brokers <list>', 'Kafka bootstrap servers of both zones, host:port[,host:port]').env('BLINDEAR_BROKERS'))
    .addOption(new Option('--client-brokers <list>', 'the client zone\'s cluster (audio, features, results, sealed session keys); default --brokers').env('BLINDEAR_CLIENT_BROKERS'))
    .addOption(new Option('--server-brokers <list>', 'the server zone\'s cluster (ciphertexts, evaluation keys); default --brokers').env('BLINDEAR_SERVER_BROKERS'));

  brokerOptions(program.command('stream')
    .description('run the continuous client pipeline on one source and print predictions as they arrive')
    .argument('<source>', 'file, http(s) URL, or - for stdin')
    .requiredOption('--catalog <dir>', 'catalogue folder'))
    .option('--session <id>', 'session id (default: a fresh random one)')
    .option('--output <target>', 'predictions as JSON lines to a file, - (stdout) or an http(s) webhook URL', '-')
    .addOption(new Option('--format <format>', 'predictions on stdout as JSON lines or readable text').choices(['json', 'text']).default('json'))
    .option('--realtime', 'pace a file source at real time, as a live stream would arrive')
    .option('--stall-seconds <s>', 'a source that sends nothing for this long is dropped (and a URL reconnected)', parseIntArg, 30)
    .option('--decision-timeout <s>', 'after the source ends, fail when no decision arrives for this long (queries refused or not scored)', parseIntArg, 120)
    .option('--station <name>', 'the station label of this source\'s metrics', 'stream')
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port', parseIntArg)
    .addOption(logLevel())
    .action(runStream);

  brokerOptions(program.command('monitor')
    .description('follow the stations of a stations file and write the airplay log (runs the client-zone services)')
    .option('--stations <file>', 'stations file (JSON or YAML): [{"id", "source", ...metadata}]; without it, only the services run')
    .requiredOption('--catalog <dir>', 'catalogue folder'))
    .option('--output <target>', 'airplay events as JSON lines to a file, - (stdout) or an http(s) webhook URL', '-')
    .addOption(new Option('--pace <pace>', 'file sources: at real time, or as fast as the pipeline takes them').choices(['realtime', 'fast']).default('realtime'))
    .addOption(new Option('--client-key-file <file>', 'the client service\'s key that seals session secrets (created if absent)').env('BLINDEAR_CLIENT_KEY_FILE').default('.blindear/client.key'))
    .option('--services <list>', 'client-zone services run in this process: all, none, or a list of windowing,encrypt,decide,delivery', 'all')
    .option('--stall-seconds <s>', 'a source that sends nothing for this long is dropped and reconnected', parseIntArg, 15)
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port', parseIntArg)
    .addOption(logLevel('info'))
    .action(runMonitor);

  brokerOptions(program.command('worker')
    .description('run one stage in its consumer group: the server-zone scorer, or a client-zone service')
    .addArgument(new Argument('<stage>', 'stage to run').choices(['scorer', 'windowing', 'encrypt', 'decide', 'delivery']))
    .requiredOption('--catalog <dir>', 'catalogue folder (the scorer loads its model, client services its manifest)'))
    .addOption(new Option('--client-key-file <file>', 'client services: the key that seals session secrets').env('BLINDEAR_CLIENT_KEY_FILE').default('.blindear/client.key'))
    .option('--output <target>', 'delivery: airplay events as JSON lines to a file, - (stdout) or a webhook URL', '-')
    .addOption(new Option('--max-speed <x>', 'scorer: audio seconds per second a session may have scored after its burst (model-extraction guard; a monitored station uses 2: its windows and one position record per decision)').argParser(Number).default(3).env('BLINDEAR_SCORER_MAX_SPEED'))
    .addOption(new Option('--burst-seconds <s>', 'scorer: audio seconds a session may have scored at any speed first').argParser(Number).default(3600).env('BLINDEAR_SCORER_BURST_SECONDS'))
    .option('--threads <n>', 'scorer: scoring threads (default: one per core); CKKS: each with its own SEAL instance; LWE: each scans its share of the rows', parseIntArg)
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port', parseIntArg)
    .addOption(logLevel('info'))
    .action((stage: string, o: Record<string, unknown>) => (stage === 'scorer'
      ? runWorker('scorer', o as never)
      : runClientWorker(stage as 'windowing', o as never)));

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

  program.command('broadcast-eval')
    .description('airplay-log quality: a seeded broadcast day from <music-dir> streamed through monitor, scored against its truth')
    .argument('<music-dir>', 'the folder the catalogue was enrolled from')
    .requiredOption('--catalog <dir>', 'catalogue enrolled from <music-dir>')
    .requiredOption('--negatives <dir>', 'never-enrolled music: unknown tracks and jingles')
    .addOption(new Option('--brokers <list>', 'Kafka bootstrap servers').env('BLINDEAR_BROKERS').makeOptionMandatory())
    .option('--hours <h>', 'length of the day', (v) => Number(v), 2)
    .option('--seed <n>', 'seed of the programme', parseIntArg, 7)
    .option('--workers <n>', 'scoring workers to start', parseIntArg, 2)
    .option('--max-speed-up <f>', 'largest speed-up a play gets (0.04 = 4 %)', (v) => Number(v), 0.04)
    .option('--out-dir <dir>', 'where broadcast.json, broadcast.md, truth.json and airplay.jsonl go', 'bench/results/broadcast')
    .addOption(logLevel('warn'))
    .action(runBroadcastEval);

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
    commandSettled();
  } catch (err) {
    commandSettled();
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
