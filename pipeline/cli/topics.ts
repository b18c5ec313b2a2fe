import { loadConfig } from '../../schemas/config.js';
import { createKafka } from '../runtime/kafka.js';
import { createLogger } from '../runtime/logger.js';
import { ensureTopics } from '../runtime/topics-admin.js';

export async function runTopicsCreate(opts: { brokers: string; partitions: number; logLevel: string }): Promise<void> {
  const config = loadConfig(process.env, { brokers: opts.brokers, partitions: opts.partitions, logLevel: opts.logLevel });
  const logger = createLogger(config.logLevel, { command: 'topics' });
  const created = await ensureTopics(createKafka({ brokers: config.brokers, clientId: config.clientId, logger, security: config.security }), config.partitions);
  process.stdout.write(created.length ? `created ${created.join(', ')}\n` : 'all topics exist\n');
}
