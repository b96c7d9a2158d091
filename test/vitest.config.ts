// Test projects (run one with `vitest --config test/vitest.config.ts --project <name>`):
//   unit     pure and in-process tests: tree rules, codec, storage contract, api via app.request()
//   process  real node processes on loopback: HTTP routes, SSE, sessions, crash and restart
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'process',
          include: ['test/process/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Each file starts its own servers; running files in parallel on a
          // 2-core machine only makes timing-sensitive tests flaky.
          fileParallelism: false,
        },
      },
    ],
  },
})
