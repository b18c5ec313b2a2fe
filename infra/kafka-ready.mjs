// Waits until a Kafka broker answers a metadata request (kafkajs admin describeCluster).
//
//   node infra/kafka-ready.mjs <host:port> <timeoutMs> [--pid <pid>]
//
// Exit 0 as soon as the broker answers, 1 on timeout (or when the process given by --pid
// has exited: no point waiting for a broker that died), 2 on bad arguments.
// kafkajs' own logs are silenced; one line on stderr says why it gave up.
// KAFKA_READY_SCRAM=user:password authenticates with SASL/SCRAM-SHA-512 (a `kafka.sh --sasl` broker).
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

function usage(reason) {
  process.stderr.write(`kafka-ready: ${reason}\nusage: node infra/kafka-ready.mjs <host:port> <timeoutMs> [--pid <pid>]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const [broker, timeoutText, ...rest] = argv;
  if (!broker || !/^[^:\s]+:\d{1,5}$/.test(broker)) usage(`expected <host:port>, got ${JSON.stringify(broker)}`);
  const timeoutMs = Number(timeoutText);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) usage(`expected a positive integer timeoutMs, got ${JSON.stringify(timeoutText)}`);
  let pid;
  if (rest.length > 0) {
    if (rest[0] !== '--pid' || rest.length !== 2) usage(`unexpected arguments ${JSON.stringify(rest)}`);
    pid = Number(rest[1]);
    if (!Number.isInteger(pid) || pid <= 0) usage(`expected a pid after --pid, got ${JSON.stringify(rest[1])}`);
  }
  return { broker, timeoutMs, pid };
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

async function describeOnce(kafka) {
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) throw new Error('metadata lists no brokers yet');
    return cluster;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

function scram(userPassword) {
  if (!userPassword) return {};
  const at = userPassword.indexOf(':');
  return { sasl: { mechanism: 'scram-sha-512', username: userPassword.slice(0, at), password: userPassword.slice(at + 1) } };
}

async function main() {
  const { broker, timeoutMs, pid } = parseArgs(process.argv.slice(2));
  const deadline = Date.now() + timeoutMs;
  const kafka = new Kafka({
    clientId: 'blindear-kafka-ready',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 },
    ...scram(process.env.KAFKA_READY_SCRAM),
  });
  let lastError = 'no attempt made';
  while (Date.now() < deadline) {
    if (pid !== undefined && !isAlive(pid)) {
      process.stderr.write(`kafka-ready: broker process ${pid} exited before ${broker} answered (last error: ${lastError})\n`);
      return 1;
    }
    try {
      await describeOnce(kafka);
      return 0;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
  }
  process.stderr.write(`kafka-ready: no metadata answer from ${broker} within ${timeoutMs} ms (last error: ${lastError})\n`);
  return 1;
}

process.exitCode = await main();
