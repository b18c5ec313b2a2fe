// A real Kafka broker for tests: started through infra/kafka.sh on a free loopback port, never a mock.
// test/global-setup.ts starts one per test run and publishes its address; test files call testBrokers().
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { freeLoopbackPort, runKafkaSh } from '../../bench/util.js';

/**
 * Global setup hands the broker to test files twice: in process.env (inherited by the test workers vitest
 * starts after global setup; verified with vitest 4.1 forks) and through vitest's provide/inject, which
 * also survives pool settings whose workers do not see the env. testBrokers() reads either.
 */
export const TEST_BROKERS_ENV = 'BLINDEAR_TEST_BROKERS';
export const TEST_KAFKA_DIR_ENV = 'BLINDEAR_TEST_KAFKA_DIR';

declare module 'vitest' {
  export interface ProvidedContext {
    [TEST_BROKERS_ENV]: string;
    [TEST_KAFKA_DIR_ENV]: string;
  }
}

export interface TestBroker {
  /** Bootstrap addresses, e.g. ['127.0.0.1:40123']. */
  brokers: string[];
  port: number;
  /** Data dir holding server.properties, broker.log and kafka.pid; removed by stop(). */
  dir: string;
  /** Stops the broker (SIGTERM, then SIGKILL after 20 s) and removes its data dir. Idempotent. */
  stop(): Promise<void>;
}

// The port picker and the kafka.sh runner are the bench's: one copy serves both.
export { freeLoopbackPort };

const START_ATTEMPTS = 3;

/**
 * Starts a fresh single-node KRaft broker (`bash infra/kafka.sh start`) on a free loopback port, in a new
 * temporary data dir. Installs the jars on first use (Maven). Rejects with the script's stderr, which
 * includes the tail of the broker log, when the broker does not come up.
 */
export async function startBroker(): Promise<TestBroker> {
  let lastError = '';
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freeLoopbackPort();
    const dir = await mkdtemp(join(tmpdir(), 'blindear-kafka-'));
    const started = await runKafkaSh(['start', '--port', String(port), '--dir', dir]);
    if (started.code === 0) {
      const address = started.stdout.trim();
      let stopped: Promise<void> | undefined;
      return {
        brokers: [address],
        port,
        dir,
        stop() {
          stopped ??= stopBroker(port, dir);
          return stopped;
        },
      };
    }
    lastError = `kafka.sh start exited with ${started.code}:\n${started.stderr}`;
    await rm(dir, { recursive: true, force: true });
    // Another process may have taken the port between our probe and the broker's bind: try another one.
    if (!/already in use/.test(started.stderr)) break;
  }
  throw new Error(`could not start a Kafka broker for the tests. ${lastError}`);
}

async function stopBroker(port: number, dir: string): Promise<void> {
  const stopped = await runKafkaSh(['stop', '--port', String(port), '--dir', dir]);
  if (stopped.code !== 0) {
    throw new Error(`kafka.sh stop exited with ${stopped.code} (data dir ${dir} kept):\n${stopped.stderr}`);
  }
  await rm(dir, { recursive: true, force: true });
}

/** The value global setup published under `name`, from the env or else from vitest's inject(). */
function published(name: typeof TEST_BROKERS_ENV | typeof TEST_KAFKA_DIR_ENV): string | undefined {
  const fromEnv = process.env[name]?.trim();
  if (fromEnv) return fromEnv;
  try {
    return inject(name)?.trim() || undefined;
  } catch {
    return undefined; // not inside a vitest worker
  }
}

function required(name: typeof TEST_BROKERS_ENV): string {
  const value = published(name);
  if (!value) {
    throw new Error(
      `${name} is not set: the Kafka broker comes from test/global-setup.ts, so run tests through vitest ` +
        `with the repo's vitest.config.ts (npx vitest run), or set ${TEST_BROKERS_ENV}=host:port to use a broker you started ` +
        `(bash infra/kafka.sh start --port P).`,
    );
  }
  return value;
}

/** Bootstrap addresses of the broker shared by this test run. Throws a clear error when there is none. */
export function testBrokers(): string[] {
  return required(TEST_BROKERS_ENV)
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}

/** Data dir of the shared broker, or undefined when the run uses a broker started outside the tests. */
export function testBrokerDir(): string | undefined {
  return published(TEST_KAFKA_DIR_ENV);
}
