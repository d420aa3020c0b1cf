/**
 * Passes over a lowered ONNX graph, and the engine that runs rule tables over it. A graph pass
 * takes the graph that lowering produced (nodes in topological order, initializers, the names of
 * graph inputs and outputs, the lowerings' hints) and changes it in place; the target-independent
 * ones live here (dead-node removal, output renaming, the standard-operator check), the NCHWc and
 * pooling ones beside it.
 *
 * A rule is (op type, rewrite): `rewrite(node, graph)` returns the nodes that replace `node`
 * (computing the same outputs, reading values defined before it) or undefined when it does not
 * apply. Replaced chains are left for `removeDeadNodes` to drop.
 */
import type { GraphHint, Target } from '../onnx/ctx.js';
import { type NodeProto, type TensorProto, hostFromTensorProto, tensorProtoFromHost } from '../onnx/proto.js';

export class OnnxGraph {
  private readonly names = new Set<string>();
  private readonly producers = new Map<string, NodeProto>();
  private counter = 0;

  constructor(
    readonly target: Target,
    readonly nodes: NodeProto[],
    readonly initializers: TensorProto[],
    /** Graph input names. */
    readonly inputs: readonly string[],
    /** Graph output names. */
    readonly outputs: readonly string[],
    readonly hints: readonly GraphHint[] = [],
  ) {
    for (const n of [...inputs, ...outputs, ...initializers.map((t) => t.name!)]) this.names.add(n);
    this.reindex();
  }

  /** Rebuilds the producer index (after a pass edited `nodes` directly). */
  reindex(): void {
    this.producers.clear();
    for (const n of this.nodes) {
      for (const o of n.output) {
        this.producers.set(o, n);
        this.names.add(o);
      }
    }
  }

  /** The node computing `name` (undefined for graph inputs and initializers). */
  producer(name: string): NodeProto | undefined {
    return this.producers.get(name);
  }

  /** A value name not used in this graph yet. */
  fresh(hint: string): string {
    let n: string;
    do n = `${hint}_g${this.counter++}`;
    while (this.names.has(n));
    this.names.add(n);
    return n;
  }

  /** A new node (not yet in the graph) with fresh output names. */
  node(
    opType: string,
    inputs: readonly string[],
    attribute: NodeProto['attribute'] = [],
    domain = '',
    nOutputs = 1,
  ): NodeProto {
    const output = Array.from({ length: nOutputs }, () => this.fresh(opType.toLowerCase()));
    return { op_type: opType, domain, input: [...inputs], output, attribute, name: `pass/${output[0]}` };
  }

  /** A new 1-D int64 initializer. */
  ints(values: readonly number[]): string {
    const name = this.fresh('const');
    this.initializers.push(
      tensorProtoFromHost(
        { dtype: 'int64', shape: [values.length], data: BigInt64Array.from(values, (v) => BigInt(v)) },
        name,
      ),
    );
    return name;
  }

  /** The values of an int64 initializer, or undefined when `name` is not one. */
  constInts(name: string): number[] | undefined {
    const t = this.initializers.find((i) => i.name === name);
    if (!t || this.producers.has(name)) return undefined;
    const host = hostFromTensorProto(t);
    return host.dtype === 'int64' ? Array.from(host.data as BigInt64Array, Number) : undefined;
  }

  /** Replaces `node` by `replacement` (which must compute its outputs), at its position. */
  replace(node: NodeProto, replacement: readonly NodeProto[]): void {
    const at = this.nodes.indexOf(node);
    if (at < 0) throw new Error(`internal: graph pass replaced a node that is not in the graph (${node.op_type})`);
    const made = new Set(replacement.flatMap((n) => n.output));
    if (node.output.some((o) => o !== '' && !made.has(o)))
      throw new Error(`internal: a rewrite of ${node.op_type} lost output(s) ${node.output.join(', ')}`);
    this.nodes.splice(at, 1, ...replacement);
    for (const n of replacement) for (const o of n.output) this.producers.set(o, n);
  }
}

/** An integer-list attribute of a node. */
export function intsAttr(node: NodeProto, name: string): number[] | undefined {
  return node.attribute?.find((a) => a.name === name)?.ints?.map(Number);
}

export interface GraphRule {
  readonly name: string;
  readonly opType: string;
  readonly domain?: string;
  rewrite(node: NodeProto, graph: OnnxGraph): NodeProto[] | undefined;
}

export interface GraphPass {
  readonly name: string;
  /** Changes the graph in place; returns how many rewrites it made. */
  run(graph: OnnxGraph): number;
}

/** A pass that applies a rule table once to every node, in graph order (replacements are not revisited). */
export function rulePass(name: string, rules: readonly GraphRule[]): GraphPass {
  return {
    name,
    run(graph) {
      let count = 0;
      for (const node of [...graph.nodes]) {
        for (const rule of rules) {
          if (rule.opType !== node.op_type || (rule.domain ?? '') !== (node.domain ?? '')) continue;
          const replacement = rule.rewrite(node, graph);
          if (!replacement) continue;
          graph.replace(node, replacement);
          count++;
          break;
        }
      }
      return count;
    },
  };
}

/**
 * Output Identity nodes (named `output/i` by lowering) whose input some node computes and no
 * other output shares: that node writes the output directly. ORT keeps an Identity that produces
 * a graph output, and it copies (a train step has one per updated weight and optimizer slot).
 */
export const renameIntoOutputs: GraphPass = {
  name: 'renameIntoOutputs',
  run(graph) {
    const { nodes } = graph;
    const graphInputs = new Set(graph.inputs);
    const identities = nodes.filter((n) => n.op_type === 'Identity' && n.name?.startsWith('output/'));
    const sources = new Map<string, number>();
    for (const n of identities) sources.set(n.input[0], (sources.get(n.input[0]) ?? 0) + 1);
    const drop = new Set<NodeProto>();
    for (const id of identities) {
      const from = id.input[0];
      const made = graph.producer(from);
      if (!made || graphInputs.has(from) || sources.get(from) !== 1) continue;
      const to = id.output[0];
      made.output = made.output.map((o) => (o === from ? to : o));
      for (const n of nodes) n.input = n.input.map((i) => (i === from ? to : i));
      drop.add(id);
    }
    if (drop.size) nodes.splice(0, nodes.length, ...nodes.filter((n) => !drop.has(n)));
    graph.reindex();
    return drop.size;
  },
};

/**
 * Drops nodes none of whose outputs is read (lowerings and rewrites leave unused steps behind),
 * then initializers nothing reads: one pass from the outputs back, since nodes are in
 * topological order.
 */
export const removeDeadNodes: GraphPass = {
  name: 'removeDeadNodes',
  run(graph) {
    const { nodes } = graph;
    const read = new Set(graph.outputs);
    const live = new Set<NodeProto>();
    for (let k = nodes.length - 1; k >= 0; k--) {
      if (!nodes[k].output.some((o) => o !== '' && read.has(o))) continue;
      live.add(nodes[k]);
      for (const i of nodes[k].input) read.add(i);
    }
    const dropped = nodes.length - live.size;
    if (dropped) nodes.splice(0, nodes.length, ...nodes.filter((n) => live.has(n)));
    // Constants only dropped nodes read (ORT would warn about each, then drop it).
    const { initializers } = graph;
    if (initializers.some((t) => !read.has(t.name!)))
      initializers.splice(0, initializers.length, ...initializers.filter((t) => read.has(t.name!)));
    graph.reindex();
    return dropped;
  },
};

/** Restores topological order (stable: a node moves only as far back as its inputs require). */
export function sortTopologically(graph: OnnxGraph): void {
  const { nodes } = graph;
  const available = new Set<string>([...graph.inputs, ...graph.initializers.map((t) => t.name!), '']);
  let pending = [...nodes];
  const sorted: NodeProto[] = [];
  while (pending.length) {
    // Each sweep emits, in order, every node whose inputs are ready; moved nodes need few sweeps.
    const waiting: NodeProto[] = [];
    for (const n of pending) {
      if (n.input.every((i) => available.has(i))) {
        sorted.push(n);
        for (const o of n.output) available.add(o);
      } else waiting.push(n);
    }
    if (waiting.length === pending.length) {
      const n = waiting[0];
      throw new Error(
        `internal: the graph has a cycle or reads undefined values (${n.op_type} reads ${n.input.filter((i) => !available.has(i)).join(', ')})`,
      );
    }
    pending = waiting;
  }
  nodes.splice(0, nodes.length, ...sorted);
}

/** Fails when a graph for another runtime would hold non-standard operators (ORT's internal kernels). */
export const requireStandardOps: GraphPass = {
  name: 'requireStandardOps',
  run(graph) {
    const odd = graph.nodes.filter((n) => n.domain);
    if (odd.length) {
      throw new Error(
        `internal: a '${graph.target}' graph holds non-standard operators (${[...new Set(odd.map((n) => `${n.domain}:${n.op_type}`))].join(', ')})`,
      );
    }
    return 0;
  },
};
