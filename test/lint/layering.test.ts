// The package layering of docs/ARCHITECTURE.md as a test: each top-level folder of src/ may import
// only the folders listed for it (imports point one way: engine → nn → train → toolkits → serve/cli).
// '.' is src/'s root files (index.ts, keras.ts: the package entry and the Keras-style factories).
import { describe, expect, it } from 'vitest';
import { SRC, importGraph, packageGraph } from '../../scripts/import-cycles.js';

const ALLOWED: Record<string, string[]> = {
  'engine/': [],
  'io/': ['engine/'],
  'nn/': ['engine/'],
  'data/': ['engine/'],
  'registry/': ['engine/', 'data/'],
  // Type-only: save.ts names the model folder's signature (registry/model-folder.ts), evaluation.ts
  // the evaluation report the registry stores (registry/evaluation.ts).
  'train/': ['engine/', 'io/', 'nn/', 'data/', 'registry/'],
  '.': ['engine/', 'io/', 'nn/', 'data/', 'train/'],
  'api/': ['.', 'engine/', 'io/', 'nn/', 'data/', 'train/'],
  // Domain toolkits: leaves over the core (DESIGN.md §7); nothing below imports them.
  'text/': ['.', 'engine/', 'io/', 'nn/', 'data/', 'train/'],
  'vision/': ['.', 'engine/', 'io/', 'nn/', 'data/', 'train/'],
  'audio/': ['.', 'engine/', 'io/', 'nn/', 'data/', 'train/'],
  'serve/': ['.', 'engine/', 'io/', 'nn/', 'data/', 'train/', 'registry/', 'text/', 'vision/', 'audio/'],
  'studio/': ['.', 'engine/', 'data/', 'train/', 'registry/', 'serve/'],
  'cli/': [
    '.',
    'engine/',
    'io/',
    'nn/',
    'data/',
    'train/',
    'registry/',
    'serve/',
    'studio/',
    'text/',
    'vision/',
    'audio/',
  ],
};

describe('package layering', () => {
  const packages = packageGraph(importGraph(SRC));
  it('knows every package of src/', () => {
    expect([...packages.keys()].filter((p) => !(p in ALLOWED))).toEqual([]);
  });
  it('each package imports only the packages below it', () => {
    const violations = [...packages].flatMap(([from, tos]) =>
      [...tos].filter((to) => !ALLOWED[from]?.includes(to)).map((to) => `${from} imports ${to}`),
    );
    expect(violations).toEqual([]);
  });
  it('would catch nn importing train', () => {
    const bad = new Map(packages);
    bad.set('nn/', new Set([...(bad.get('nn/') ?? []), 'train/']));
    expect([...bad].some(([from, tos]) => [...tos].some((to) => !ALLOWED[from]?.includes(to)))).toBe(true);
  });
});
