/**
 * The pass pipelines. Every trace is simplified by the algebraic trace passes (before `backward`
 * and before lowering); the lowered ONNX graph then goes through the graph passes of its target:
 *
 *   'ort-cpu'  (run here):   nchwcFilters → shareMaxPoolWindows → renameIntoOutputs → removeDeadNodes
 *   'portable' (files):      renameIntoOutputs → removeDeadNodes → requireStandardOps
 *
 * The NCHWc kernels themselves are chosen by the conv lowerings when the target has them
 * (LowerCtx.nchwcBlock > 0, only for 'ort-cpu'); nothing in a trace depends on the CPU.
 */
import type { Target } from '../onnx/ctx.js';
import type { Trace } from '../trace.js';
import { ALGEBRAIC_PASSES } from './algebra.js';
import { type GraphPass, type OnnxGraph, removeDeadNodes, renameIntoOutputs, requireStandardOps } from './graph.js';
import { nchwcFilters } from './nchwc.js';
import { type TracePass, runTracePass } from './trace.js';
import { shareMaxPoolWindows } from './windows.js';

/** Runs the algebraic trace passes over `trace` (in place, value-preserving); returns the rewrite count. */
export function simplifyTrace(trace: Trace, passes: readonly TracePass[] = ALGEBRAIC_PASSES): number {
  return passes.reduce((n, pass) => n + runTracePass(trace, pass), 0);
}

/** The graph passes a target runs, in order. */
export function graphPasses(target: Target): readonly GraphPass[] {
  return target === 'ort-cpu'
    ? [nchwcFilters, shareMaxPoolWindows, renameIntoOutputs, removeDeadNodes]
    : [renameIntoOutputs, removeDeadNodes, requireStandardOps];
}

/** Runs the target's graph passes over `graph`. */
export function runGraphPasses(graph: OnnxGraph, passes: readonly GraphPass[] = graphPasses(graph.target)): void {
  for (const pass of passes) pass.run(graph);
}
