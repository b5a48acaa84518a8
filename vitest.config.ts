import { defineConfig } from 'vitest/config';

// Tests start real worker threads (one per simulated CPU). Two test files run
// at once (one per core of a 2-core CI machine): most files spend their time
// in seeded runs, one simulated CPU stepping at a time, so two files share
// the cores well (the whole suite: 495 s against 748 s one file at a time,
// measured on a 2-core host). Timeouts are generous: no test asserts on time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Refuse to test a dist/ older than src/ (workers and the CLI run the compiled code).
    globalSetup: ['test/globalSetup.ts'],
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
