/**
 * No new import cycles in src/: every import edge that lies on a cycle, between modules or between
 * packages, must belong to a cycle listed in import-cycles.allow (today's cycles, being removed).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SRC, allowedEdges, cycleEdges, formatCycle, importGraph, packageGraph } from '../../scripts/import-cycles.js';

const allowed = allowedEdges(readFileSync(new URL('./import-cycles.allow', import.meta.url), 'utf8').split('\n'));
const modules = importGraph(SRC);

/** The cycles through edges that are not allowed, as printable paths. */
const newCycles = (graph: typeof modules) =>
  cycleEdges(graph)
    .filter((e) => !allowed.has(`${e.from} > ${e.to}`))
    .map((e) => formatCycle([...e.cycle, e.cycle[0]]));

describe('import cycles in src/', () => {
  it('sees the imports (the graph is not empty and holds a known edge)', () => {
    expect(modules.get('index.ts')?.size).toBeGreaterThan(3);
    expect(modules.get('engine/op.ts')?.has('engine/shape.ts')).toBe(true);
  });

  it('catches a cycle that is not in the allowlist', () => {
    const graph = new Map([...modules].map(([m, deps]) => [m, new Set(deps)]));
    graph.get('engine/shape.ts')!.add('train/loops.ts'); // train/loops.ts reaches engine/shape.ts
    expect(newCycles(graph).some((c) => c.startsWith('engine/shape.ts > train/loops.ts > '))).toBe(true);
    expect(newCycles(packageGraph(graph))).toContain('engine/ > train/ > engine/');
  });

  it('between modules: only the allowed ones', () => {
    expect(newCycles(modules), 'new import cycles (module > imported module > … > module)').toEqual([]);
  });

  it('between packages: only the allowed ones', () => {
    expect(newCycles(packageGraph(modules)), 'new package cycles').toEqual([]);
  });
});
