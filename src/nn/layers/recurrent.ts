/**
 * Recurrent layers with Keras semantics (gate order, weight layouts, defaults): SimpleRNN, LSTM,
 * GRU (reset_after). Inputs [N, T, features]; the time loop is unrolled into the graph (T must be
 * known). The input projection of all steps is one matmul before the loop.
 */
import {
  type Dim,
  Tensor,
  type Variable,
  add,
  broadcastTo,
  cast,
  fullLike,
  matmul,
  sum,
  mul,
  reshape,
  sub,
  transpose,
  zeros,
} from '../../engine/index.js';
import { split, stack } from '../../engine/ops/shape.js';
import { where } from '../../engine/ops/elementwise.js';
import { type ActivationFn, type ActivationSpec, getActivation, serializeActivation } from '../activations.js';
import { type Initializer, type InitializerSpec, getInitializer, serializeInitializer } from '../initializers.js';
import { type CallOptions, Layer, type LayerOptions, registerLayer, requireDim } from '../layer.js';
import { type RegularizerSpec, getRegularizer, serializeRegularizer } from '../regularizers.js';
import { shapeStr } from '../../engine/shape.js';

export interface RecurrentOptions extends LayerOptions {
  activation?: ActivationSpec;
  recurrentActivation?: ActivationSpec;
  useBias?: boolean;
  /** Return the output of every step ([N, T, units]) instead of the last ([N, units]). */
  returnSequences?: boolean;
  /** Also return the final state(s): [output, h] (LSTM: [output, h, c]). */
  returnState?: boolean;
  /** Process the sequence in reverse (outputs in reverse order too, like Keras). */
  goBackwards?: boolean;
  /** With a mask and returnSequences: output zeros at masked steps (default: repeat the last output). */
  zeroOutputForMask?: boolean;
  kernelInitializer?: InitializerSpec;
  recurrentInitializer?: InitializerSpec;
  biasInitializer?: InitializerSpec;
  kernelRegularizer?: RegularizerSpec;
  recurrentRegularizer?: RegularizerSpec;
  biasRegularizer?: RegularizerSpec;
}

/** Runs `step` over time; subclasses define the cell. */
abstract class RNNBase extends Layer {
  readonly activation: ActivationFn;
  readonly recurrentActivation: ActivationFn;
  readonly useBias: boolean;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  readonly goBackwards: boolean;
  protected readonly opts: RecurrentOptions;
  kernel!: Variable;
  recurrentKernel!: Variable;
  bias?: Variable;
  /** Gates per unit (SimpleRNN 1, LSTM 4, GRU 3) and number of state tensors. */
  protected abstract readonly gates: number;
  protected abstract readonly stateCount: number;

  constructor(
    readonly units: number,
    options: RecurrentOptions,
  ) {
    super(options);
    if (!Number.isInteger(units) || units <= 0)
      throw new Error(`${this.className}: units must be a positive integer, got ${units}`);
    this.activation = getActivation(options.activation ?? 'tanh');
    this.recurrentActivation = getActivation(options.recurrentActivation ?? 'sigmoid');
    this.useBias = options.useBias ?? true;
    this.returnSequences = options.returnSequences ?? false;
    this.returnState = options.returnState ?? false;
    this.goBackwards = options.goBackwards ?? false;
    this.opts = options;
  }

  protected biasShape(): number[] {
    return [this.gates * this.units];
  }

  protected biasInitializer(): InitializerSpec {
    return this.opts.biasInitializer ?? 'zeros';
  }

  override build(inputShape: (Dim | null)[]): void {
    if (inputShape.length !== 3)
      throw new Error(
        `expected input of rank 3 [batch, timesteps, features], got [${inputShape.map((d) => d ?? 'None').join(', ')}]`,
      );
    const features = requireDim(this, inputShape, -1, 'feature dimension');
    const o = this.opts;
    this.kernel = this.addWeight(
      'kernel',
      [features, this.gates * this.units],
      o.kernelInitializer ?? 'glorotUniform',
      { regularizer: o.kernelRegularizer },
    );
    this.recurrentKernel = this.addWeight(
      'recurrentKernel',
      [this.units, this.gates * this.units],
      o.recurrentInitializer ?? 'orthogonal',
      {
        regularizer: o.recurrentRegularizer,
      },
    );
    if (this.useBias)
      this.bias = this.addWeight('bias', this.biasShape(), this.biasInitializer(), { regularizer: o.biasRegularizer });
  }

  /** Input contribution of every step (x W + input bias), [N, T, gates*units]. */
  protected inputProjection(x: Tensor): Tensor {
    const xw = matmul(x, this.kernel);
    return this.bias ? add(xw, this.inputBias()) : xw;
  }

  protected inputBias(): Tensor {
    return this.bias!;
  }

  /** One step: projected input of this step and the states → new states (states[0] = h = output). */
  protected abstract step(xProj: Tensor, states: Tensor[]): Tensor[];

  override call(x: Tensor, options: CallOptions = {}): Tensor | Tensor[] {
    if (x.rank !== 3)
      throw new Error(`expected input of rank 3 [batch, timesteps, features], got ${shapeStr(x.shape)}`);
    const t = x.shape[1];
    if (typeof t !== 'number')
      throw new Error(`the number of timesteps must be known (got ${t}); recurrent layers unroll the time loop`);
    const n = x.shape[0];
    const initial = options.initialState as Tensor[] | undefined;
    let states: Tensor[] = initial ?? Array.from({ length: this.stateCount }, () => zerosState(x, n, this.units));
    if (states.length !== this.stateCount)
      throw new Error(`initialState must hold ${this.stateCount} tensor(s), got ${states.length}`);
    // [N, T, G] → T pieces of [N, G] (time-major split: one Split node).
    const proj = this.inputProjection(x);
    const steps = t === 1 ? [proj] : split(transpose(proj, [1, 0, 2]), t, 0);
    const perStep = steps.map((s) => reshape(s, [n, this.gates * this.units]));
    const order = this.goBackwards ? [...perStep].reverse() : perStep;
    // Mask [N, T]: masked steps keep the previous states (and output them again, or zeros).
    const mask = options.mask as Tensor | undefined;
    let stepMasks: Tensor[] | undefined;
    if (mask) {
      const m = cast(mask, 'bool');
      const pieces = t === 1 ? [m] : split(transpose(m, [1, 0]), t, 0);
      stepMasks = pieces.map((p) => reshape(p, [n, 1]));
      if (this.goBackwards) stepMasks.reverse();
    }
    const outputs: Tensor[] = [];
    order.forEach((xp, k) => {
      const next = this.step(xp, states);
      if (stepMasks) {
        const keep = stepMasks[k];
        states = next.map((s, j) => where(keep, s, states[j]));
        outputs.push(this.opts.zeroOutputForMask ? where(keep, next[0], 0) : states[0]);
      } else {
        states = next;
        outputs.push(states[0]);
      }
    });
    const output = this.returnSequences
      ? outputs.length === 1
        ? reshape(outputs[0], [n, 1, this.units])
        : stack(outputs, 1)
      : outputs[outputs.length - 1];
    return this.returnState ? [output, ...states] : output;
  }

  override getConfig(): Record<string, any> {
    const o = this.opts;
    const init = (s: InitializerSpec | undefined, d: InitializerSpec) => serializeInitializer(getInitializer(s ?? d));
    const reg = (r: RegularizerSpec | undefined) => (r ? serializeRegularizer(getRegularizer(r)) : undefined);
    return {
      ...super.getConfig(),
      units: this.units,
      activation: serializeActivation(o.activation ?? 'tanh'),
      recurrentActivation: serializeActivation(o.recurrentActivation ?? 'sigmoid'),
      useBias: this.useBias,
      returnSequences: this.returnSequences,
      returnState: this.returnState,
      goBackwards: this.goBackwards,
      zeroOutputForMask: o.zeroOutputForMask,
      kernelInitializer: init(o.kernelInitializer, 'glorotUniform'),
      recurrentInitializer: init(o.recurrentInitializer, 'orthogonal'),
      biasInitializer: o.biasInitializer ? init(o.biasInitializer, 'zeros') : undefined,
      kernelRegularizer: reg(o.kernelRegularizer),
      recurrentRegularizer: reg(o.recurrentRegularizer),
      biasRegularizer: reg(o.biasRegularizer),
    };
  }

  override computeMask(_inputs: Tensor, mask: Tensor | undefined): Tensor | undefined {
    return this.returnSequences ? mask : undefined;
  }

  static override fromConfig(c: Record<string, any>): Layer {
    return new (this as any)(c.units, c);
  }
}

function zerosState(x: Tensor, n: Dim, units: number): Tensor {
  if (typeof n === 'number') return zeros([n, units], x.dtype);
  // Symbolic batch: zeros of shape [N, units] derived from x's shape (fullLike carries no gradient).
  return reshape(broadcastTo(fullLike(sum(x, [1, 2], true), 0), [n, 1, units]), [n, units]);
}

/** h = activation(x W + h U + b). */
export class SimpleRNN extends RNNBase {
  static override className = 'SimpleRNN';
  protected readonly gates = 1;
  protected readonly stateCount = 1;
  constructor(units: number, options: RecurrentOptions = {}) {
    super(units, options);
  }
  protected step(xp: Tensor, [h]: Tensor[]): Tensor[] {
    return [this.activation(add(xp, matmul(h, this.recurrentKernel)))];
  }
}
registerLayer(SimpleRNN);

export interface LSTMOptions extends RecurrentOptions {
  /** Initialize the forget-gate bias to 1 (Keras default true). */
  unitForgetBias?: boolean;
}

/** Keras LSTM: gates i, f, c, o; kernel [F, 4u], recurrentKernel [u, 4u], bias [4u]. */
export class LSTM extends RNNBase {
  static override className = 'LSTM';
  protected readonly gates = 4;
  protected readonly stateCount = 2;
  readonly unitForgetBias: boolean;
  constructor(units: number, options: LSTMOptions = {}) {
    super(units, options);
    this.unitForgetBias = options.unitForgetBias ?? true;
  }
  protected override biasInitializer(): InitializerSpec {
    const base = super.biasInitializer();
    if (!this.unitForgetBias) return base;
    const u = this.units;
    const inner: Initializer = getInitializer(base);
    return {
      className: inner.className,
      getConfig: () => inner.getConfig(),
      init: (shape, dtype) => {
        const t = inner.init(shape, dtype);
        (t.data as Float32Array).fill(1, u, 2 * u);
        return t;
      },
    };
  }
  protected step(xp: Tensor, [h, c]: Tensor[]): Tensor[] {
    const [zi, zf, zc, zo] = split(add(xp, matmul(h, this.recurrentKernel)), 4, 1);
    const i = this.recurrentActivation(zi);
    const f = this.recurrentActivation(zf);
    const o = this.recurrentActivation(zo);
    const cNew = add(mul(f, c), mul(i, this.activation(zc)));
    return [mul(o, this.activation(cNew)), cNew];
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), unitForgetBias: this.unitForgetBias };
  }
}
registerLayer(LSTM);

export interface GRUOptions extends RecurrentOptions {
  /** Apply the reset gate after the recurrent matmul (Keras default true; bias is then [2, 3u]). */
  resetAfter?: boolean;
}

/** Keras GRU: gates z, r, h; h' = z * h + (1 - z) * candidate. */
export class GRU extends RNNBase {
  static override className = 'GRU';
  protected readonly gates = 3;
  protected readonly stateCount = 1;
  readonly resetAfter: boolean;
  constructor(units: number, options: GRUOptions = {}) {
    super(units, options);
    this.resetAfter = options.resetAfter ?? true;
  }
  protected override biasShape(): number[] {
    return this.resetAfter ? [2, 3 * this.units] : [3 * this.units];
  }
  protected override inputBias(): Tensor {
    if (!this.resetAfter) return this.bias!;
    return reshape(split(this.bias!, 2, 0)[0], [3 * this.units]);
  }
  protected step(xp: Tensor, [h]: Tensor[]): Tensor[] {
    const u = this.units;
    const [xz, xr, xh] = split(xp, 3, 1);
    let rec: Tensor;
    if (this.resetAfter) {
      rec = matmul(h, this.recurrentKernel);
      if (this.bias) rec = add(rec, reshape(split(this.bias, 2, 0)[1], [3 * u]));
      const [hz, hr, hh] = split(rec, 3, 1);
      const z = this.recurrentActivation(add(xz, hz));
      const r = this.recurrentActivation(add(xr, hr));
      const cand = this.activation(add(xh, mul(r, hh)));
      return [add(mul(z, h), mul(sub(1, z), cand))];
    }
    const [uzr, uh] = split(this.recurrentKernel, [2 * u, u], 1);
    const [hz, hr] = split(matmul(h, uzr), 2, 1);
    const z = this.recurrentActivation(add(xz, hz));
    const r = this.recurrentActivation(add(xr, hr));
    const cand = this.activation(add(xh, matmul(mul(r, h), uh)));
    return [add(mul(z, h), mul(sub(1, z), cand))];
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), resetAfter: this.resetAfter };
  }
}
registerLayer(GRU);
