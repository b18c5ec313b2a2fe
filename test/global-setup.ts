// vitest globalSetup: ONE real Kafka broker for the whole test run. Test files get it from
// testBrokers() in test/helpers/broker.ts (published here through process.env and provide()).
// A run may bring its own broker instead: BLINDEAR_TEST_BROKERS=host:port npx vitest run
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startBroker, TEST_BROKERS_ENV, TEST_KAFKA_DIR_ENV } from './helpers/broker.js';

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env[TEST_BROKERS_ENV]?.trim();
  if (external) {
    project.provide(TEST_BROKERS_ENV, external);
    return undefined;
  }

  const broker = await startBroker();
  process.env[TEST_BROKERS_ENV] = broker.brokers.join(',');
  process.env[TEST_KAFKA_DIR_ENV] = broker.dir;
  project.provide(TEST_BROKERS_ENV, process.env[TEST_BROKERS_ENV]);
  project.provide(TEST_KAFKA_DIR_ENV, broker.dir);

  // Last resort if vitest exits without running the teardown: never leave a broker behind.
  const pid = Number(readFileSync(join(broker.dir, 'kafka.pid'), 'utf8').trim());
  const killOnExit = (): void => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(broker.dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  return async () => {
    process.off('exit', killOnExit);
    delete process.env[TEST_BROKERS_ENV];
    delete process.env[TEST_KAFKA_DIR_ENV];
    await broker.stop();
  };
}
