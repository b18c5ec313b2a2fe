import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests share one real broker and the CPU-heavy SEAL work; run files one at a time on 2 cores.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // The test run starts its own broker, unless BLINDEAR_TEST_BROKERS names one already running.
    globalSetup: process.env.BLINDEAR_TEST_BROKERS ? [] : ['test/global-setup.ts'],
  },
});
