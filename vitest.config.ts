import { defineConfig } from 'vitest/config';

// Tests start real worker threads (one per simulated CPU) on a 2-core machine:
// run test files one at a time so they do not fight over cores, with generous
// timeouts (no test asserts on time).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Refuse to test a dist/ older than src/ (workers and the CLI run the compiled code).
    globalSetup: ['test/globalSetup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
