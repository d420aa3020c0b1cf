/**
 * How a batch becomes an update: the graphs fit, evaluate and predict run. Each builder traces
 * the model once per input signature into ONE graph — for training: forward, loss (+
 * regularization), backward, the optimizer update, BatchNorm statistic updates and the metric
 * statistics of the batch. Weights and optimizer slots are graph inputs bound to worker state
 * keys and written back as outputs (graph.ts), so a step ships only the batch and a few scalars.
 * The runner (runner.ts) caches, loads and runs what these functions build.
 */
import type { DType } from '../engine/dtype.js';
import { add, backward, fullLike, identity, mul, stopGradient } from '../engine/index.js';
import type { HostTensor } from '../engine/onnx/proto.js';
import type { Dim } from '../engine/shape.js';
import { Tensor, type Variable } from '../engine/tensor.js';
import type { Node } from '../engine/trace.js';
import { collectUpdates } from '../nn/updates.js';
import type { CompileState, TrainableModel } from './compile-spec.js';
import type { Batch } from './data.js';
import { GraphBuilder, type GraphProgram } from './graph.js';

/** Train-step graph variants: the fused step, and the pieces of a data-parallel step (parallel.ts). */
export type TrainMode = 'step' | 'shard' | 'grads' | 'apply';

/** What one step brings back: the loss and the metrics' sufficient statistics of the batch. */
export interface StepResult {
  loss: number;
  /** Per-output losses (multi-output models only). */
  outputLosses: number[];
  stats: HostTensor[][];
}

/** How the model returns its outputs (a tensor, an array, or a record), seen when tracing. */
export type OutputStructure =
  | { kind: 'tensor' }
  | { kind: 'array'; length: number }
  | { kind: 'record'; keys: string[] };

/** The shapes and dtypes of a batch; the batch axis is 'batch' when one graph serves every size. */
export interface Signature {
  xs: { shape: Dim[]; dtype: DType }[];
  ys?: { shape: Dim[]; dtype: DType }[];
}

export function signatureOf(batch: Batch, symbolic: boolean): Signature {
  const dims = (t: Tensor): Dim[] => (symbolic ? ['batch', ...t.shape.slice(1)] : [...t.shape]);
  return {
    xs: batch.xs.map((t) => ({ shape: dims(t), dtype: t.dtype })),
    ys: batch.ys?.map((t) => ({ shape: dims(t), dtype: t.dtype })),
  };
}

export function sigKey(kind: string, s: Signature): string {
  const part = (l: { shape: Dim[]; dtype: DType }[] = []) => l.map((x) => `${x.dtype}[${x.shape}]`).join(';');
  return `${kind}|${part(s.xs)}|${part(s.ys)}`;
}

/** What the builders need from the runner: the model, its compile state and the state keys of its Variables. */
export interface StepContext {
  readonly model: TrainableModel;
  readonly state: CompileState;
  /** Every Variable of the model (weights and buffers), in a fixed order. */
  readonly variables: readonly [string, Variable][];
  /** The Variables that receive gradients. */
  readonly trainable: readonly Variable[];
  /** Worker state key of variables[i]. */
  varKey(i: number): string;
  /** Worker state key of optimizer slot j of trainable[i]. */
  slotKey(i: number, j: number): string;
  /** Set by the builders when they trace the model. */
  outputStructure: OutputStructure;
}

function inputsOf(ctx: StepContext, b: GraphBuilder, sig: Signature): Tensor | Tensor[] {
  const xs = sig.xs.map((s, i) => b.feed(`x${i}`, s.shape, s.dtype));
  return xs.length === 1 && (ctx.model.inputSpecs ?? []).length <= 1 ? xs[0] : xs;
}

function bindVariables(ctx: StepContext, b: GraphBuilder, differentiable: boolean): Map<Variable, Tensor> {
  const trainable = new Set(ctx.trainable);
  return new Map(
    ctx.variables.map(([, v], i) => [v, b.bindVariable(v, ctx.varKey(i), differentiable && trainable.has(v))]),
  );
}

/** The model outputs as a list in output order (and their structure, recorded on ctx). */
function outputList(ctx: StepContext, out: unknown, who: string): Tensor[] {
  if (out instanceof Tensor) {
    ctx.outputStructure = { kind: 'tensor' };
    return [out];
  }
  if (Array.isArray(out) && out.every((t) => t instanceof Tensor)) {
    ctx.outputStructure = { kind: 'array', length: out.length };
    return out;
  }
  if (out && typeof out === 'object' && Object.values(out).every((t) => t instanceof Tensor)) {
    const rec = out as Record<string, Tensor>;
    const keys = ctx.state.outputNames.every((n) => n in rec) ? ctx.state.outputNames : Object.keys(rec);
    ctx.outputStructure = { kind: 'record', keys };
    return keys.map((k) => rec[k]);
  }
  throw new Error(`${who}: the model must return a Tensor, an array or a record of Tensors, got ${typeof out}`);
}

/** Total loss (weighted sum over outputs, plus regularization) and the per-output losses. */
function lossTerms(
  ctx: StepContext,
  ys: Tensor[],
  preds: Tensor[],
  sw: Tensor,
  who: string,
): { total: Tensor; perOutput: Tensor[] } {
  const { losses, lossWeights } = ctx.state;
  if (preds.length !== losses.length || ys.length !== losses.length) {
    throw new Error(
      `${who}: the model has ${preds.length} output(s), the data ${ys.length} target(s), and ${losses.length} loss(es) were compiled (outputs: ${ctx.state.outputNames.join(', ')})`,
    );
  }
  const perOutput = preds.map((p, i) => losses[i].call(ys[i], p, sw));
  let total = perOutput.map((l, i) => (lossWeights[i] === 1 ? l : mul(l, lossWeights[i]))).reduce((a, b) => add(a, b));
  const reg = ctx.model.regularizationLoss?.();
  if (reg && (reg.isSymbolic || reg.item() !== 0)) total = add(total, reg);
  return { total, perOutput };
}

function metricOutputs(ctx: StepContext, outputs: [string, Tensor][], ys: Tensor[], preds: Tensor[]): void {
  ctx.state.metrics.forEach((m, k) => {
    const o = ctx.state.metricOutputs[k];
    m.batchStats(ys[o], preds[o]).forEach((t, j) => outputs.push([`m${k}_${j}`, t]));
  });
}

/**
 * Whether a 'step' graph leaves the optimizer update to an in-place kernel in the worker
 * (optimizers.ts KernelUpdate): the optimizer has one and every trainable weight is float32.
 * LEPTON_OPTIMIZER_KERNELS=0 keeps the update in the graph (for comparisons).
 */
export function usesUpdateKernel(ctx: StepContext): boolean {
  const { optimizer } = ctx.state;
  if (process.env.LEPTON_OPTIMIZER_KERNELS === '0') return false;
  if (optimizer.kernelUpdate(optimizer.nextScalars()) === undefined) return false;
  if (!ctx.trainable.every((v) => v.dtype === 'float32')) return false;
  // The kernels' memory is 32-bit addressed (4 GB): weights, slots and one gradient must fit.
  const sizes = ctx.trainable.map((v) => v.size * 4);
  const bytes = sizes.reduce((a, b) => a + b, 0) * (1 + optimizer.slotNames().length) + Math.max(0, ...sizes);
  return bytes <= KERNEL_MEMORY_LIMIT;
}

/** Training state the in-place kernels take at most (the rest of their 4 GB is headroom). */
const KERNEL_MEMORY_LIMIT = 3 * 2 ** 30;

/**
 * The train-step graph. 'step' is the fused step (forward, loss, backward, optimizer update).
 * Data-parallel shards use the other modes (see parallel.ts): 'shard' first applies the
 * optimizer update with fed gradients (the previous step's sum over shards), then runs forward
 * and backward on the shard with the resulting weights and outputs the gradients; 'grads' is
 * that without the update (a shard's first step after a flush); 'apply' is the update alone
 * (flushing an epoch's last step). Two programs instead of one with a run-time switch: selecting
 * every weight and slot by a flag cost time on every shard step (docs/PERFORMANCE.md).
 * With an update kernel (usesUpdateKernel), the 'step' graph ends at the clipped gradients and
 * the worker updates weights and slots in place after the run (GraphProgram.kernelItems).
 */
export function buildTrainStep(ctx: StepContext, sig: Signature | undefined, mode: TrainMode = 'step'): GraphProgram {
  const { optimizer } = ctx.state;
  const b = new GraphBuilder();
  const outputs: [string, Tensor][] = [];
  const stateOut: Record<string, string> = {};
  const varIndex = new Map(ctx.variables.map(([, v], i) => [v, i]));
  const emitUpdate = (next: { params: Tensor[]; slots: Tensor[][] }): void => {
    ctx.trainable.forEach((v, i) => {
      const vi = varIndex.get(v)!;
      outputs.push([`p${vi}`, next.params[i]]);
      stateOut[`p${vi}`] = ctx.varKey(vi);
      next.slots[i].forEach((t, j) => {
        outputs.push([`s${i}_${j}`, t]);
        stateOut[`s${i}_${j}`] = ctx.slotKey(i, j);
      });
    });
  };
  const kernel = mode === 'step' && usesUpdateKernel(ctx);
  // The optimizer's inputs, in the modes whose graph updates.
  const updating = mode !== 'grads' && !kernel;
  const scalars = updating
    ? Object.fromEntries(Object.keys(optimizer.nextScalars()).map((k) => [k, b.feed(`s_${k}`, [], 'float32')]))
    : {};
  const slots = updating
    ? ctx.trainable.map((v, i) => optimizer.slotNames().map((_, j) => b.state(ctx.slotKey(i, j), v.shape, v.dtype)))
    : [];
  // Gradients fed from the host (already summed over shards) for the update before the forward.
  const fedGrads =
    mode === 'shard' || mode === 'apply' ? ctx.trainable.map((v, i) => b.feed(`g${i}`, v.shape, v.dtype)) : [];
  const trainableSet = new Set(ctx.trainable);
  let vars: Map<Variable, Tensor>;
  let before: Tensor[] = [];
  if (fedGrads.length) {
    // Trainable weights are read as plain state here; the forward sees the updated values.
    before = ctx.trainable.map((v) => b.state(ctx.varKey(varIndex.get(v)!), v.shape, v.dtype));
    vars = new Map(
      ctx.variables
        .filter(([, v]) => !trainableSet.has(v))
        .map(([, v]) => [v, b.bindVariable(v, ctx.varKey(varIndex.get(v)!))]),
    );
  } else {
    vars = bindVariables(ctx, b, true);
  }
  if (mode !== 'apply' && !sig?.ys) throw new Error('fit: targets y are required');
  const x = mode === 'apply' ? undefined : inputsOf(ctx, b, sig!);
  const ys = mode === 'apply' ? [] : sig!.ys!.map((s, i) => b.feed(`y${i}`, s.shape, s.dtype));
  const sw = mode === 'apply' ? undefined : b.feed('sw', [sig!.xs[0].shape[0]], 'float32');
  b.run(() => {
    if (fedGrads.length) {
      const next = optimizer.applyGradients(before, fedGrads, slots, scalars);
      emitUpdate(next);
      if (mode === 'apply') return;
      // Marked (identity) so that backward stops at the updated weights.
      ctx.trainable.forEach((v, i) => {
        const marked = identity(next.params[i]);
        vars.set(v, marked);
        b.substitute(v, marked);
      });
    }
    const { result, updates } = collectUpdates(() => ctx.model.apply(x, { training: true }));
    const preds = outputList(ctx, result, 'fit');
    const { total, perOutput } = lossTerms(ctx, ys, preds, sw!, 'fit');
    const params = ctx.trainable.map((v) => vars.get(v)!);
    const grads = backward(b.symbolicTrace, [total], [fullLike(total, 1)], params);
    if (mode === 'step' && !kernel) emitUpdate(optimizer.applyGradients(params, grads, slots, scalars));
    else (kernel ? optimizer.clipGradients(grads) : grads).forEach((g, i) => outputs.push([`g${i}`, g]));
    outputs.push(['loss', total]);
    if (perOutput.length > 1) perOutput.forEach((l, i) => outputs.push([`l${i}`, l]));
    metricOutputs(ctx, outputs, ys, preds.map(stopGradient));
    for (const [v, value] of updates) {
      const vi = varIndex.get(v);
      if (vi === undefined)
        throw new Error(`fit: a layer updated variable '${v.name}', which is not part of the model`);
      outputs.push([`u${vi}`, value]);
      stateOut[`u${vi}`] = ctx.varKey(vi);
    }
  });
  const what = mode === 'step' ? 'train step' : mode === 'apply' ? 'optimizer update' : 'data-parallel train step';
  const program = b.build(outputs, stateOut, `${what} of ${ctx.model.name ?? 'model'}`);
  if (kernel) {
    program.kernelItems = ctx.trainable.map((v, i) => ({
      param: ctx.varKey(varIndex.get(v)!),
      grad: program.outputName(`g${i}`),
      slots: optimizer.slotNames().map((_, j) => ctx.slotKey(i, j)),
    }));
  }
  return program;
}

/** Evaluation / prediction graphs; `bake`: the weights are constants of the graph instead of worker state. */
export function buildEvalStep(ctx: StepContext, sig: Signature, kind: 'eval' | 'predict', bake = false): GraphProgram {
  const b = new GraphBuilder();
  const x = inputsOf(ctx, b, sig);
  const ys = kind === 'eval' ? sig.ys!.map((s, i) => b.feed(`y${i}`, s.shape, s.dtype)) : [];
  const sw = kind === 'eval' ? b.feed('sw', [sig.xs[0].shape[0]], 'float32') : undefined;
  if (!bake) bindVariables(ctx, b, false);
  const outputs: [string, Tensor][] = [];
  b.run(() => {
    const preds = outputList(ctx, ctx.model.apply(x, { training: false }), kind === 'eval' ? 'evaluate' : 'predict');
    if (kind === 'predict') {
      preds.forEach((p, i) => outputs.push([`pred${i}`, p]));
      return;
    }
    const { total, perOutput } = lossTerms(ctx, ys, preds, sw!, 'evaluate');
    outputs.push(['loss', total]);
    if (perOutput.length > 1) perOutput.forEach((l, i) => outputs.push([`l${i}`, l]));
    metricOutputs(ctx, outputs, ys, preds);
  });
  return b.build(outputs, {}, `${kind === 'eval' ? 'evaluation' : 'prediction'} of ${ctx.model.name ?? 'model'}`, {
    bakeVariables: bake,
  });
}

/** Forward FLOPs of one batch of this signature (traced, nothing runs), for choosing data parallelism. */
export function traceForwardFlops(ctx: StepContext, sig: Signature): number {
  const b = new GraphBuilder();
  const x = inputsOf(ctx, b, sig);
  bindVariables(ctx, b, false);
  b.run(() => ctx.model.apply(x, { training: false }));
  return forwardFlops(b.symbolicTrace.nodes);
}

/** How many statistics each metric produces for this batch (traced once on placeholders). */
export function traceMetricStatCounts(ctx: StepContext, sample: Batch): number[] {
  if (!sample.ys) throw new Error('targets y are required');
  const b = new GraphBuilder();
  const x = inputsOf(ctx, b, signatureOf(sample, false));
  bindVariables(ctx, b, false);
  const ys = sample.ys.map((t, i) => b.feed(`y${i}`, t.shape, t.dtype));
  return b.run(() => {
    const preds = outputList(ctx, ctx.model.apply(x, { training: false }), 'fit');
    return ctx.state.metrics.map(
      (m, k) => m.batchStats(ys[ctx.state.metricOutputs[k]], preds[ctx.state.metricOutputs[k]]).length,
    );
  });
}

/**
 * Estimated multiply-adds ×2 of one forward pass over a batch, from the traced ops (convolutions
 * and matrix products; everything else is cheap next to them in models where parallelism pays).
 */
export function forwardFlops(nodes: readonly Node[]): number {
  let flops = 0;
  const count = (shape: readonly (number | string)[]) =>
    shape.reduce<number>((p, d) => p * (typeof d === 'number' ? d : 1), 1);
  for (const n of nodes) {
    const name = n.op.name;
    const out = n.outputs[0];
    if (name === 'conv') {
      const w = n.inputs[1].shape as number[];
      flops += 2 * count(out.shape) * count(w.slice(1));
    } else if (name === 'convTranspose') {
      const w = n.inputs[1].shape as number[];
      flops += 2 * count(n.inputs[0].shape) * count(w.slice(1));
    } else if (name === 'matmul' || name === 'linear') {
      const a = n.inputs[0].shape;
      flops += 2 * count(out.shape) * (typeof a[a.length - 1] === 'number' ? (a[a.length - 1] as number) : 1);
    }
  }
  return flops;
}
