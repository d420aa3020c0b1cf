/**
 * No import cycles in src/, between modules or between packages (src/'s top-level folders); type-only
 * imports count. `npx tsx scripts/import-cycles.ts` prints any that appear.
 */
import { describe, expect, it } from 'vitest';
import { SRC, cycleEdges, formatCycle, importGraph, packageGraph } from '../../scripts/import-cycles.js';

const modules = importGraph(SRC);

/** Every cycle through an edge, as printable paths ('a.ts > b.ts > a.ts'). */
const cycles = (graph: typeof modules) => cycleEdges(graph).map((e) => formatCycle([...e.cycle, e.cycle[0]]));

describe('import cycles in src/', () => {
  it('sees the imports (the graph is not empty and holds a known edge)', () => {
    expect(modules.get('index.ts')?.size).toBeGreaterThan(3);
    expect(modules.get('engine/op.ts')?.has('engine/shape.ts')).toBe(true);
  });

  it('catches a cycle, between modules and between packages', () => {
    const graph = new Map([...modules].map(([m, deps]) => [m, new Set(deps)]));
    graph.get('engine/shape.ts')!.add('train/loops.ts'); // train/loops.ts reaches engine/shape.ts
    expect(cycles(graph).some((c) => c.startsWith('engine/shape.ts > train/loops.ts > '))).toBe(true);
    expect(cycles(packageGraph(graph))).toContain('engine/ > train/ > engine/');
  });

  it('counts type-only imports as edges', () => {
    // tensor.ts needs onnx/ctx.ts only for the LowerCtx type of OpDef.lower.
    expect(modules.get('engine/tensor.ts')?.has('engine/onnx/ctx.ts')).toBe(true);
  });

  it('between modules: none', () => {
    expect(cycles(modules), 'import cycles (module > imported module > … > module)').toEqual([]);
  });

  it('between packages: none', () => {
    expect(cycles(packageGraph(modules)), 'package cycles').toEqual([]);
  });
});
