import { defineConfig } from 'vitest/config';

// The tests whose code paths depend on ORT's NCHWc kernels (channel-blocked convolutions and
// pooling, and the training built on them) run a second time with the kernels turned off, so the
// plain Conv/MaxPool path for block-sized channel counts is tested on AVX-512 machines too.
const NCHWC_DEPENDENT = [
  'test/engine/conv.test.ts',
  'test/engine/pool.test.ts',
  'test/engine/nchwc-off.test.ts',
  'test/train/fit.test.ts',
  'test/train/parallel.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A private TMPDIR per run, checked for leftovers at the end; tempDir() folders are removed per file.
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    projects: [
      { extends: true, test: { name: 'default', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'no-nchwc', include: NCHWC_DEPENDENT, env: { LEPTON_NCHWC: '0' } } },
    ],
  },
});
