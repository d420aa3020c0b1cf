/**
 * Model state that changes without gradients (BatchNormalization moving statistics). A layer
 * calls `addUpdate(variable, newValue)` during a training-mode call. Inside `collectUpdates(fn)`
 * the updates are recorded so a compiled train step can return the new values as graph outputs;
 * outside a collector, concrete values are assigned at once.
 */
import { Tensor, type Variable } from '../engine/tensor.js';

export type StateUpdate = [Variable, Tensor];

const collectors: StateUpdate[][] = [];

/** Records (or, outside a collector with a concrete value, applies) a new value for `variable`. */
export function addUpdate(variable: Variable, value: Tensor): void {
  const collector = collectors[collectors.length - 1];
  if (collector) {
    // A later update of the same variable in one step replaces the earlier one (shared layers).
    const i = collector.findIndex(([v]) => v === variable);
    if (i >= 0) collector[i] = [variable, value];
    else collector.push([variable, value]);
    return;
  }
  // Symbolic values outside a collector (shape inference, a user's own grad/compile of a
  // training-mode call) have nowhere to go: they are dropped, the variable keeps its value.
  if (!value.isSymbolic) variable.assign(value);
}

/** Runs fn and returns its result together with the state updates layers requested during it. */
export function collectUpdates<T>(fn: () => T): { result: T; updates: StateUpdate[] } {
  const updates: StateUpdate[] = [];
  collectors.push(updates);
  try {
    const result = fn();
    return { result, updates };
  } finally {
    collectors.pop();
  }
}

/** Runs fn with updates discarded (used while inferring output shapes). */
export function discardUpdates<T>(fn: () => T): T {
  return collectUpdates(fn).result;
}
