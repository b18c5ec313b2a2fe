import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests share one real broker and the CPU-heavy SEAL work; run files one at a time on 2 cores.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // One real broker for the run (test/global-setup.ts), unless BLINDEAR_TEST_BROKERS names a running one.
    globalSetup: ['test/global-setup.ts'],
  },
});
