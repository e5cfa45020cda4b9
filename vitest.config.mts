import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // End-to-end tests send real packets with 1 s probe timeouts: on a 2-core machine,
    // files running side by side would make a slow probe look like a dropped one.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
