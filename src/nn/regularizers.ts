/** Weight regularizers (Keras semantics: l2(x) = factor * sum(x²)). */
import { Tensor, add, mul, scalar, sum } from '../engine/index.js';
import { abs } from '../engine/ops/elementwise.js';
import type { SerializedObject } from './initializers.js';
import { nameKey } from './names.js';

export interface Regularizer {
  readonly className: string;
  apply(weight: Tensor): Tensor;
  getConfig(): Record<string, unknown>;
}

export class L1L2 implements Regularizer {
  readonly className = 'L1L2';
  constructor(
    readonly l1 = 0,
    readonly l2 = 0,
  ) {}
  apply(weight: Tensor): Tensor {
    let total: Tensor = scalar(0, weight.dtype);
    if (this.l1) total = add(total, mul(sum(abs(weight)), this.l1));
    if (this.l2) total = add(total, mul(sum(mul(weight, weight)), this.l2));
    return total;
  }
  getConfig() {
    return { l1: this.l1, l2: this.l2 };
  }
}

export const l1 = (factor = 0.01): Regularizer => new L1L2(factor, 0);
export const l2 = (factor = 0.01): Regularizer => new L1L2(0, factor);
export const l1l2 = (l1Factor = 0.01, l2Factor = 0.01): Regularizer => new L1L2(l1Factor, l2Factor);

export type RegularizerSpec = Regularizer | 'l1' | 'l2' | 'l1l2' | SerializedObject;

export function getRegularizer(spec: RegularizerSpec): Regularizer {
  if (typeof spec === 'string') {
    const key = nameKey(spec);
    if (key === 'l1') return l1();
    if (key === 'l2') return l2();
    if (key === 'l1l2') return l1l2();
    throw new Error(`unknown regularizer '${spec}' (expected l1, l2, l1l2 or a regularizer object)`);
  }
  if ('apply' in spec) return spec;
  if (spec.className === 'L1L2') return new L1L2(Number(spec.config.l1 ?? 0), Number(spec.config.l2 ?? 0));
  if (spec.className === 'L1') return l1(Number(spec.config.l1 ?? 0.01));
  if (spec.className === 'L2') return l2(Number(spec.config.l2 ?? 0.01));
  throw new Error(`unknown regularizer class '${spec.className}'`);
}

export function serializeRegularizer(r: Regularizer): SerializedObject {
  return { className: r.className, config: r.getConfig() };
}
