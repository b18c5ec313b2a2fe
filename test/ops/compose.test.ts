/**
 * docker-compose.yml, checked without a Docker engine: `docker-compose config` (Debian's docker-compose
 * package; .ci/run installs it) must accept the file, and the resolved file must hold what operators
 * rely on: one Kafka version everywhere (the broker the tests run, infra/kafka/pom.xml), a host
 * listener, a data volume that Kafka actually writes to, the enrolment job before the workers,
 * health checks, and Prometheus and Grafana provisioned from files that exist.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/music.js';

const has = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const COMPOSE = has('docker-compose', ['version']) ? 'docker-compose' : undefined;
/** PyYAML comes with docker-compose (python3-yaml); Debian's python3 has it, a pyenv one may not. */
const PYTHON = ['/usr/bin/python3', 'python3'].find((p) => has(p, ['-c', 'import yaml']));
const SKIP = !COMPOSE || !PYTHON;
const WHY = !COMPOSE ? 'docker-compose is not installed (Debian: apt-get install docker-compose; .ci/run does it)' : 'no python3 with PyYAML';

interface Service {
  image?: string; build?: unknown; command?: string[]; entrypoint?: string[]; environment?: Record<string, string>;
  ports?: unknown[]; volumes?: Mount[]; depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
}
interface Mount { type: string; source?: string; target: string }
interface Compose { services: Record<string, Service>; volumes: Record<string, unknown> }

function resolved(): Compose {
  const config = spawnSync(COMPOSE!, ['-f', 'docker-compose.yml', 'config'], { cwd: REPO, encoding: 'utf8' });
  if (config.status !== 0) throw new Error(`docker-compose config failed: ${config.stderr}`);
  const json = spawnSync(PYTHON!, ['-c', 'import json,sys,yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: config.stdout, encoding: 'utf8' });
  if (json.status !== 0) throw new Error(json.stderr);
  const compose = JSON.parse(json.stdout) as Compose;
  // docker-compose 1.x prints volumes in the short syntax (source:target[:mode]): one shape for the checks.
  for (const s of Object.values(compose.services)) {
    s.volumes = (s.volumes as unknown[] | undefined)?.map((v): Mount => {
      if (typeof v !== 'string') return v as Mount;
      const [source, target] = v.split(':');
      return { type: source.startsWith('/') || source.startsWith('.') ? 'bind' : 'volume', source, target };
    });
  }
  return compose;
}

const pomKafkaVersion = (): string => /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(join(REPO, 'infra', 'kafka', 'pom.xml'), 'utf8'))![1];

describe.skipIf(SKIP)(`docker-compose.yml${SKIP ? ` (skipped: ${WHY})` : ''}`, () => {
  it('is accepted by docker-compose config', () => {
    const r = spawnSync(COMPOSE!, ['-f', 'docker-compose.yml', 'config', '-q'], { cwd: REPO, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('runs the Kafka version the tests run, with a host listener and a data volume it writes to', () => {
    const { services, volumes } = resolved();
    const kafka = services.kafka;
    expect(kafka.image).toBe(`apache/kafka:${pomKafkaVersion()}`);
    expect(JSON.stringify(kafka.ports)).toContain('29092');
    expect(kafka.environment?.KAFKA_ADVERTISED_LISTENERS).toMatch(/localhost:29092/);
    const data = kafka.volumes?.find((v) => v.type === 'volume');
    expect(data?.source).toBe('kafka-data');
    expect(kafka.environment?.KAFKA_LOG_DIRS).toBe(data?.target);
    expect(Object.keys(volumes)).toContain('kafka-data');
    expect(kafka.healthcheck?.test?.join(' ')).toMatch(/kafka-broker-api-versions/);
  });

  it('creates topics and enrols before the scoring workers and the monitor start', () => {
    const { services } = resolved();
    for (const name of ['kafka', 'topics', 'enrol', 'scorer', 'monitor', 'icecast', 'radio', 'prometheus', 'grafana']) expect(services, name).toHaveProperty(name);
    expect(services.topics.command).toEqual(['topics', '--partitions', '4']);
    expect(services.enrol.entrypoint?.join(' ')).toMatch(/blindear enroll \/music --catalog \/catalog/);
    for (const name of ['scorer', 'monitor']) {
      expect(services[name].depends_on?.topics.condition).toBe('service_completed_successfully');
      expect(services[name].depends_on?.enrol.condition).toBe('service_completed_successfully');
      expect(services[name].environment?.BLINDEAR_BROKERS).toBe('kafka:9092');
    }
    expect(services.scorer.command).toEqual(['worker', 'scorer']);
    expect(services.monitor.command?.slice(0, 3)).toEqual(['monitor', '--stations', '/config/stations.json']);
  });

  it('mounts only files that exist, and provisions Prometheus and Grafana', () => {
    const { services } = resolved();
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        if (v.type !== 'bind' || !v.source!.startsWith(REPO) || v.source!.includes('.cache')) continue;
        expect(existsSync(v.source!), `${name}: ${v.source}`).toBe(true);
      }
    }
    const prom = readFileSync(join(REPO, 'infra', 'prometheus', 'prometheus.docker.yml'), 'utf8');
    for (const job of ['scorer', 'monitor']) expect(prom).toMatch(new RegExp(`names: \\[${job}\\]`));
    const dashboard = JSON.parse(readFileSync(join(REPO, 'infra', 'grafana', 'dashboards', 'blindear.json'), 'utf8')) as { panels: { datasource: { uid: string } }[] };
    const datasource = readFileSync(join(REPO, 'infra', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8');
    for (const p of dashboard.panels) expect(datasource).toContain(`uid: ${p.datasource.uid}`);
    expect(services.grafana.volumes?.map((v) => v.target)).toEqual(expect.arrayContaining(['/etc/grafana/provisioning', '/var/lib/grafana/dashboards']));
  });
});

describe('the app image', () => {
  it('has a HEALTHCHECK on /readyz and serves metrics by default', () => {
    const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n.*\/readyz/m);
    expect(dockerfile).toMatch(/BLINDEAR_METRICS_PORT=9464/);
  });
});
