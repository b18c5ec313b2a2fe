// vitest globalSetup: ONE real Kafka broker for the whole test run, handed to test files through
// process.env (vitest starts its test workers from this process after global setup, so they inherit it).
// A run may bring its own broker instead: BLINDEAR_TEST_BROKERS=host:port npx vitest run
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, TEST_BROKERS_ENV, TEST_KAFKA_DIR_ENV } from './helpers/broker.js';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env[TEST_BROKERS_ENV]?.trim()) return undefined; // a broker started outside the tests

  const broker = await startBroker();
  process.env[TEST_BROKERS_ENV] = broker.brokers.join(',');
  process.env[TEST_KAFKA_DIR_ENV] = broker.dir;

  // Last resort if vitest exits without running the teardown: never leave a broker behind.
  const pid = Number(readFileSync(join(broker.dir, 'kafka.pid'), 'utf8').trim());
  const killOnExit = (): void => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);

  return async () => {
    process.off('exit', killOnExit);
    delete process.env[TEST_BROKERS_ENV];
    delete process.env[TEST_KAFKA_DIR_ENV];
    await broker.stop();
  };
}
