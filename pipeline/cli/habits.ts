/**
 * What every `blindear` command does the same way, applied to the built program (so commands added
 * later get it too): each option also read from an environment variable, `--log-format`, the log
 * format chosen before the action runs, and a fast broker check for commands given `--brokers`.
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../../schemas/config.js';
import { checkBrokers } from '../runtime/broker-check.js';
import { LOG_FORMATS, setLogFormat, type LogFormat } from '../runtime/logger.js';

/**
 * Options whose environment variable is not BLINDEAR_<FLAG>: null means none (repeated or
 * per-run flags; enrolment's kind and parameters have BLINDEAR_ENROLL_KIND/_PARAMS/_HE, read by enroll).
 */
const ENV_EXCEPTIONS: Record<string, string | null> = { kind: null, param: null, he: null, help: null, version: null };

export function envNameFor(option: Option): string | undefined {
  const long = option.long?.replace(/^--/, '');
  if (!long || option.negate || option.variadic) return undefined;
  if (long in ENV_EXCEPTIONS) return ENV_EXCEPTIONS[long] ?? undefined;
  return `BLINDEAR_${long.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * A commander Command whose options (and its subcommands' options) read BLINDEAR_<FLAG> when not
 * given on the command line. commander binds an option's environment variable when the option is
 * added, so this happens in addOption, which .option() and .requiredOption() also go through.
 */
export class BlindearCommand extends Command {
  override createCommand(name?: string): Command {
    return new BlindearCommand(name);
  }

  override addOption(option: Option): this {
    const name = envNameFor(option);
    if (name && !option.envVar) option.env(name);
    return super.addOption(option);
  }
}

function leafCommands(program: Command): Command[] {
  const subs = program.commands as Command[];
  return subs.length === 0 ? [program] : subs.flatMap(leafCommands);
}

let brokerCheck: { settled: boolean } | undefined;

/** The command finished or failed on its own: a broker check still pending no longer speaks. */
export function commandSettled(): void {
  if (brokerCheck) brokerCheck.settled = true;
}

/** Adds `--log-format` and environment variables to every command, and the pre-action habits. */
export function applyHabits(program: Command): Command {
  for (const cmd of leafCommands(program)) {
    if (cmd === program) continue;
    if (!cmd.options.some((o) => o.long === '--log-format')) {
      cmd.addOption(new Option('--log-format <format>', 'logs as JSON lines, or compact readable lines (auto: readable on a terminal)').choices([...LOG_FORMATS]).default('auto'));
    }
  }
  program.hook('preAction', async (_program, action) => {
    const opts = action.opts<{ logFormat?: LogFormat; brokers?: string }>();
    if (opts.logFormat) setLogFormat(opts.logFormat);
    if (typeof opts.brokers === 'string' && opts.brokers.trim()) {
      // With the TLS/SASL settings the command itself will use (BLINDEAR_KAFKA_SSL, ..._SASL_*). The check
      // runs beside the command, so its own input errors (a bad catalogue) still come first; if no broker
      // answers within a few seconds while it runs, that is the one line and exit 1.
      const config = loadConfig(process.env, { brokers: opts.brokers });
      const check = { settled: false };
      brokerCheck = check;
      void checkBrokers(config.brokers, { security: config.security }).catch((err: unknown) => {
        if (check.settled) return;
        check.settled = true;
        process.stderr.write(`blindear: ${err instanceof Error ? err.message : String(err)} (BLINDEAR_ERR_BROKER_UNAVAILABLE)\n`);
        process.exit(1);
      });
    }
  });
  return program;
}
