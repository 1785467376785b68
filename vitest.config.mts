import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// swc emits decorator metadata, which Nest's dependency injection needs.
// Two projects: `fast` (unit, integration, single-process e2e) runs files in parallel; `cluster`
// (several replica processes sharing the Redis Cluster, killing nodes) runs one file at a time.
export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Every test file checks that no secret the tests minted appears in anything it wrote.
    setupFiles: ['test/support/setup.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'fast', include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/chart/**/*.test.ts'], maxWorkers: 2 },
      },
      {
        extends: true,
        test: { name: 'cluster', include: ['test/cluster/**/*.test.ts'], fileParallelism: false, maxWorkers: 1, testTimeout: 180_000 },
      },
    ],
  },
});
