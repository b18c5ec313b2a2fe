import { defineConfig } from 'vitest/config';

/**
 * Two projects, both run by `npm test`:
 * - unit: pure logic, no broker, no real music, no SEAL-sized work (seconds in all). `npm run test:unit`.
 * - integration: a real Kafka broker (one per run, test/global-setup.ts, unless BLINDEAR_TEST_BROKERS
 *   names a running one), real audio, real encrypted scoring, the CLI as child processes, Prometheus.
 * New test files are integration tests unless listed in UNIT. The quick benchmark runs apart
 * (`npm run test:bench`, vitest.bench.config.ts): it asserts that the report is complete, not speed.
 */
export const UNIT = [
  'test/errors.test.ts',
  'test/connectors/sinks.test.ts',
  'test/eval/query-plan.test.ts',
  'test/eval/svg-plot.test.ts',
  'test/features/stream-windower.test.ts',
  'test/he/boundary.test.ts',
  'test/he/params.test.ts',
  'test/model/mfcc-vote.test.ts',
  'test/model/large-file.test.ts',
  'test/model/stream-decisions.test.ts',
  'test/schemas/frames.test.ts',
  'test/runtime/metrics.test.ts',
  'test/dsp/activity.test.ts',
  'test/ops/compose.test.ts',
  'test/cli/options.test.ts',
];
const BENCH = ['test/bench/**'];

export default defineConfig({
  test: {
    // Integration tests share one real broker and the CPU-heavy SEAL work; run files one at a time on 2 cores.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT, ...BENCH],
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
