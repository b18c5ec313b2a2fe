import { defineConfig } from 'vitest/config';

// `npm run test:bench`: the quick benchmark end to end (it starts its own broker). A CI step of its own.
export default defineConfig({
  test: {
    include: ['test/bench/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 1_800_000,
  },
});
