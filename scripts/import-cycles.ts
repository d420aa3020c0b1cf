/**
 * Import cycles in src/, between modules and between packages (src/'s top-level folders): builds
 * the import graph with the TypeScript parser (imports, re-exports and dynamic `import()`; type-only
 * imports count too, since they tie the layers together all the same) and finds the edges that lie
 * on a cycle. test/lint/import-cycles.test.ts fails on any: src/ has none, and keeps none.
 *
 *   npx tsx scripts/import-cycles.ts     prints one shortest cycle per line, covering every cycle edge,
 *                                        packages first
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Module (path relative to the root, e.g. 'engine/op.ts') → the modules it imports. */
export type ImportGraph = Map<string, Set<string>>;

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The module specifiers of one file: imports, re-exports and dynamic `import()`. */
function specifiers(path: string): string[] {
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const specs: string[] = [];
  const visit = (node: ts.Node): void => {
    let spec: ts.Expression | undefined;
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) spec = node.moduleSpecifier;
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword)
      spec = node.arguments[0];
    if (spec && ts.isStringLiteral(spec)) specs.push(spec.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specs;
}

/** Resolves a relative specifier as NodeNext does for our sources ('./x.js' → x.ts, './dir' → dir/index.ts). */
function resolveLocal(fromFile: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(fromFile), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), base, join(base, 'index.ts')]) {
    if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate;
  }
  return undefined;
}

export function importGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of tsFiles(root)) {
    const deps = new Set<string>();
    for (const spec of specifiers(file)) {
      const target = resolveLocal(file, spec);
      if (target && !relative(root, target).startsWith('..')) deps.add(relative(root, target));
    }
    graph.set(relative(root, file), deps);
  }
  return graph;
}

/**
 * The same graph between packages: a module in folder engine/ (at any depth) is package 'engine/';
 * modules at the root are package '.'. Imports within a package are left out.
 */
export function packageGraph(modules: ImportGraph): ImportGraph {
  const packageOf = (m: string) => (m.includes('/') ? `${m.split('/')[0]}/` : '.');
  const graph: ImportGraph = new Map();
  for (const [from, deps] of modules) {
    const edges = graph.get(packageOf(from)) ?? new Set<string>();
    for (const to of deps) if (packageOf(to) !== packageOf(from)) edges.add(packageOf(to));
    graph.set(packageOf(from), edges);
  }
  return graph;
}

/** Strongly connected component id of every module (Tarjan). An edge lies on a cycle iff both ends share one. */
function components(graph: ImportGraph): Map<string, number> {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const component = new Map<string, number>();
  let counter = 0;
  let components = 0;
  const connect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.set(w, components);
      } while (w !== v);
      components++;
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return component;
}

/** The shortest path from `from` to `to` (BFS, neighbours in sorted order so the answer is stable). */
function shortestPath(graph: ImportGraph, from: string, to: string): string[] {
  const previous = new Map<string, string>([[from, from]]);
  const queue = [from];
  while (queue.length > 0) {
    const v = queue.shift()!;
    if (v === to) break;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  const path = [to];
  while (path[0] !== from) path.unshift(previous.get(path[0])!);
  return path;
}

export interface CycleEdge {
  from: string;
  to: string;
  /** A shortest cycle through the edge: from, to, …, back to from (the first module not repeated). */
  cycle: string[];
}

/** Every import edge that lies on a cycle, with a shortest cycle through it. */
export function cycleEdges(graph: ImportGraph): CycleEdge[] {
  const component = components(graph);
  const edges: CycleEdge[] = [];
  for (const from of [...graph.keys()].sort()) {
    for (const to of [...graph.get(from)!].sort()) {
      if (component.get(from) === component.get(to))
        edges.push({ from, to, cycle: [from, ...shortestPath(graph, to, from).slice(0, -1)] });
    }
  }
  return edges;
}

/** One cycle per line, 'a.ts > b.ts > c.ts' (c.ts imports a.ts again). */
export const formatCycle = (cycle: string[]): string => cycle.join(' > ');

/** A small set of cycles that covers every cycle edge (one line each is enough to see them all). */
export function coveringCycles(edges: CycleEdge[]): string[][] {
  const covered = new Set<string>();
  const cycles: string[][] = [];
  for (const e of edges) {
    if (covered.has(`${e.from} > ${e.to}`)) continue;
    cycles.push(e.cycle);
    e.cycle.forEach((m, i) => covered.add(`${m} > ${e.cycle[(i + 1) % e.cycle.length]}`));
  }
  return cycles;
}

export const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const modules = importGraph(SRC);
  for (const graph of [packageGraph(modules), modules]) {
    for (const cycle of coveringCycles(cycleEdges(graph))) console.log(formatCycle(cycle));
  }
}
