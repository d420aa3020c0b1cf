/**
 * Optimizers with PyTorch semantics (torch.optim, single-tensor code path). Each defines its
 * update of one parameter with ops (`updateParam`), so the same definition runs inside the
 * train-step graph and in the imperative `step(params, grads)` for PyTorch-style loops.
 * Scalars that PyTorch computes in double precision on the host (bias corrections, step sizes)
 * are computed in JS and fed as inputs, so the float32 arithmetic matches PyTorch's.
 */
import { compileSync } from '../engine/compile.js';
import {
  Tensor,
  type Variable,
  add,
  cast,
  div,
  maximum,
  minimum,
  mul,
  scalar,
  sqrt,
  sub,
  sum,
  zeros,
  clip,
  full,
} from '../engine/index.js';
import { type LearningRate, learningRateAt, learningRateFromConfig, learningRateToConfig } from './schedules.js';
import { nameKey } from '../nn/names.js';

export interface OptimizerOptions {
  learningRate?: LearningRate;
  /** PyTorch's name for `learningRate` (`new Adam(model.parameters(), { lr: 1e-3 })`). */
  lr?: number;
  /** Rescale all gradients together so their global L2 norm is at most this (torch clip_grad_norm_). */
  clipNorm?: number;
  /** Clamp every gradient element to [-clipValue, clipValue]. */
  clipValue?: number;
}

export type Scalars = Record<string, Tensor>;

/**
 * An update the training worker applies in place to float32 state (src/engine/runtime/kernels.wat)
 * instead of the train-step graph computing it: one pass over memory per parameter. `args` are the
 * kernel's scalar arguments for one step.
 */
export interface KernelUpdate {
  kind: 'adam';
  args: number[];
}

/** Gradients rescaled so their global L2 norm is at most maxNorm (PyTorch clip_grad_norm_). */
export function clipGradNorm(grads: readonly Tensor[], maxNorm: number): Tensor[] {
  if (grads.length === 0) return [];
  const squares = grads.map((g) => sum(mul(g, g)));
  const total = sqrt(squares.reduce((a, b) => add(a, b)));
  const coef = minimum(div(maxNorm, add(total, 1e-6)), 1);
  return grads.map((g) => mul(g, cast(coef, g.dtype)));
}

/** Gradients clamped element-wise to [-value, value]. */
export function clipGradValue(grads: readonly Tensor[], value: number): Tensor[] {
  return grads.map((g) => clip(g, -value, value));
}

/** The options of a `(options)` or `(params, options)` constructor call. */
function optionsOf<O>(paramsOrOptions: readonly Variable[] | O | undefined, options: O | undefined): O {
  return ((Array.isArray(paramsOrOptions) ? options : paramsOrOptions) ?? {}) as O;
}

export abstract class Optimizer {
  abstract readonly className: string;
  learningRate: LearningRate;
  /** Updates done so far (the next update is step iterations + 1). */
  iterations = 0;
  readonly clipNorm?: number;
  readonly clipValue?: number;
  /** Per-parameter state (momentum buffers, moments), host copies; the train loop keeps them in sync. */
  readonly slots = new Map<Variable, Tensor[]>();
  /** The parameters given at construction (PyTorch style), which `step(grads)` updates. */
  readonly params?: readonly Variable[];
  private imperative?: (
    params: Tensor[],
    grads: Tensor[],
    slots: Tensor[][],
    scalars: Scalars,
  ) => { params: Tensor[]; slots: Tensor[][] };

  /**
   * `options` alone (Keras style: `new Adam({ learningRate })`, for `compile`), or the parameters
   * first (PyTorch style: `new Adam(model.parameters(), { lr })`, for `step(grads)`).
   */
  constructor(
    paramsOrOptions: readonly Variable[] | OptimizerOptions | undefined,
    options: OptimizerOptions | undefined,
    defaultLr: number,
  ) {
    const name = new.target.name;
    let opts: OptimizerOptions;
    if (Array.isArray(paramsOrOptions)) {
      const params = paramsOrOptions as readonly Variable[];
      params.forEach((p, i) => {
        if (!(p instanceof Tensor) || typeof (p as Variable).assign !== 'function') {
          throw new Error(
            `${name}: parameter ${i} is not a Variable (pass model.parameters(), or Variables you created)`,
          );
        }
      });
      this.params = [...params];
      opts = options ?? {};
    } else {
      if (options !== undefined)
        throw new Error(`${name}: expected (options) or (parameters, options), got two option objects`);
      opts = (paramsOrOptions ?? {}) as OptimizerOptions;
    }
    if (opts.lr !== undefined && opts.learningRate !== undefined)
      throw new Error(`${name}: give lr or learningRate, not both`);
    this.learningRate = opts.learningRate ?? opts.lr ?? defaultLr;
    options = opts;
    this.clipNorm = options.clipNorm;
    this.clipValue = options.clipValue;
  }

  /** Names of the per-parameter state tensors. */
  abstract slotNames(): string[];

  /** Host-computed scalars for update number `step` (1-based) at learning rate lr. */
  abstract hostScalars(step: number, lr: number): Record<string, number>;

  /** New parameter and slots from the gradient (ops only: traced or eager). */
  abstract updateParam(param: Tensor, grad: Tensor, slots: Tensor[], s: Scalars): [Tensor, Tensor[]];

  /** Hyperparameters (without the learning rate and clipping, which the base class adds). */
  protected abstract hyperparameters(): Record<string, unknown>;

  /** The learning rate of the next update. */
  currentLearningRate(): number {
    return learningRateAt(this.learningRate, this.iterations);
  }

  /** Fresh state for a parameter. */
  initialSlots(param: Tensor): Tensor[] {
    return this.slotNames().map(() => zeros(param.shape as number[], param.dtype));
  }

  /** The slots of a parameter, created on first use. */
  slotsFor(param: Variable): Tensor[] {
    let s = this.slots.get(param);
    if (!s) {
      s = this.initialSlots(param);
      this.slots.set(param, s);
    }
    return s;
  }

  /** Scalars of the next update as float32 0-d tensors. */
  nextScalars(): Record<string, number> {
    return this.hostScalars(this.iterations + 1, this.currentLearningRate());
  }

  /**
   * The in-place kernel that does this optimizer's update for step scalars `s` (hostScalars), or
   * undefined when it has none; the kernel must compute exactly what updateParam does.
   */
  kernelUpdate(_s: Record<string, number>): KernelUpdate | undefined {
    return undefined;
  }

  /** The gradients after clipping (ops only). */
  clipGradients(grads: readonly Tensor[]): Tensor[] {
    let gs = [...grads];
    if (this.clipValue !== undefined) gs = clipGradValue(gs, this.clipValue);
    if (this.clipNorm !== undefined) gs = clipGradNorm(gs, this.clipNorm);
    return gs;
  }

  /** Clipping and the update of every parameter (ops only). */
  applyGradients(
    params: readonly Tensor[],
    grads: readonly Tensor[],
    slots: readonly Tensor[][],
    s: Scalars,
  ): { params: Tensor[]; slots: Tensor[][] } {
    const gs = this.clipGradients(grads);
    const newParams: Tensor[] = [];
    const newSlots: Tensor[][] = [];
    params.forEach((p, i) => {
      const scalars = Object.fromEntries(
        Object.entries(s).map(([k, v]) => [k, v.dtype === p.dtype ? v : cast(v, p.dtype)]),
      );
      const [np, ns] = this.updateParam(p, gs[i], slots[i], scalars);
      newParams.push(np);
      newSlots.push(ns);
    });
    return { params: newParams, slots: newSlots };
  }

  /**
   * One imperative update (PyTorch `optimizer.step()`), run as one compiled graph on this thread.
   * `step(grads)` updates the parameters given at construction — grads in the same order (as
   * `valueAndGrad` returns them for `model.parameters()`), or a Map from Variable to gradient;
   * `step(params, grads)` updates the Variables given.
   */
  step(grads: readonly Tensor[] | ReadonlyMap<Variable, Tensor>): void;
  step(params: readonly Variable[], grads: readonly Tensor[]): void;
  step(paramsOrGrads: readonly Tensor[] | ReadonlyMap<Variable, Tensor>, maybeGrads?: readonly Tensor[]): void {
    let params: readonly Variable[];
    let grads: readonly Tensor[];
    if (maybeGrads !== undefined) {
      params = paramsOrGrads as readonly Variable[];
      grads = maybeGrads;
    } else {
      if (!this.params) {
        throw new Error(
          `${this.className}.step(grads): this optimizer was created without parameters; ` +
            `create it with new ${this.className}(model.parameters(), { lr }) or call step(params, grads)`,
        );
      }
      if (paramsOrGrads instanceof Map) {
        const byVariable = paramsOrGrads as ReadonlyMap<Variable, Tensor>;
        for (const v of byVariable.keys()) {
          if (!this.params.includes(v))
            throw new Error(`${this.className}.step: Variable '${v.name}' is not one of this optimizer's parameters`);
        }
        // Parameters without a gradient are left alone (PyTorch skips params whose .grad is None).
        params = this.params.filter((p) => byVariable.has(p));
        grads = params.map((p) => byVariable.get(p)!);
      } else {
        params = this.params;
        grads = paramsOrGrads as readonly Tensor[];
      }
    }
    if (params.length !== grads.length)
      throw new Error(`${this.className}.step: got ${params.length} parameters but ${grads.length} gradients`);
    params.forEach((p, i) => {
      if (grads[i].shape.join() !== p.shape.join()) {
        throw new Error(
          `${this.className}.step: gradient ${i} has shape [${grads[i].shape}] but parameter '${p.name}' has [${p.shape}]`,
        );
      }
    });
    this.imperative ??= compileSync((ps: Tensor[], gs: Tensor[], ss: Tensor[][], sc: Scalars) =>
      this.applyGradients(ps, gs, ss, sc),
    );
    const scalars = Object.fromEntries(Object.entries(this.nextScalars()).map(([k, v]) => [k, scalar(v)]));
    const out = this.imperative(
      params.map((p) => p.value()),
      [...grads],
      params.map((p) => this.slotsFor(p)),
      scalars,
    );
    params.forEach((p, i) => {
      p.assign(out.params[i]);
      this.slots.set(p, out.slots[i]);
    });
    this.iterations++;
  }

  /**
   * PyTorch's `zero_grad()`, for loops written the PyTorch way. Lepton's gradients are values
   * returned by `grad`/`valueAndGrad`, never accumulated into the parameters, so there is nothing
   * to clear: each `step(grads)` uses exactly the gradients it is given.
   */
  zeroGrad(): void {}

  getConfig(): { className: string; config: Record<string, unknown> } {
    const config: Record<string, unknown> = {
      learningRate: learningRateToConfig(this.learningRate),
      ...this.hyperparameters(),
    };
    if (this.clipNorm !== undefined) config.clipNorm = this.clipNorm;
    if (this.clipValue !== undefined) config.clipValue = this.clipValue;
    return { className: this.className, config };
  }
}

export interface SGDOptions extends OptimizerOptions {
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  readonly className = 'SGD';
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  // The options-only form is last: the Keras factories (`optimizers.Adam({…})`) take its signature.
  constructor(params: readonly Variable[], options?: SGDOptions);
  constructor(options?: SGDOptions);
  constructor(paramsOrOptions?: readonly Variable[] | SGDOptions, maybeOptions?: SGDOptions) {
    super(paramsOrOptions, maybeOptions, 0.01);
    const options = optionsOf<SGDOptions>(paramsOrOptions, maybeOptions);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0))
      throw new Error('SGD: nesterov needs momentum > 0 and dampening 0 (as in PyTorch)');
  }
  slotNames(): string[] {
    return this.momentum ? ['momentum_buffer'] : [];
  }
  hostScalars(step: number, lr: number): Record<string, number> {
    return { lr, first: step === 1 ? 1 : 0, notFirst: step === 1 ? 0 : 1 };
  }
  updateParam(p: Tensor, g: Tensor, slots: Tensor[], s: Scalars): [Tensor, Tensor[]] {
    let d = this.weightDecay ? add(g, mul(p, this.weightDecay)) : g;
    const out: Tensor[] = [];
    if (this.momentum) {
      // PyTorch starts the buffer at the first gradient itself (no dampening on step 1).
      const later = add(mul(slots[0], this.momentum), mul(d, 1 - this.dampening));
      const buf = add(mul(d, s.first), mul(later, s.notFirst));
      out.push(buf);
      d = this.nesterov ? add(d, mul(buf, this.momentum)) : buf;
    }
    return [sub(p, mul(d, s.lr)), out];
  }
  protected hyperparameters() {
    return {
      momentum: this.momentum,
      dampening: this.dampening,
      nesterov: this.nesterov,
      weightDecay: this.weightDecay,
    };
  }
}

export interface AdamOptions extends OptimizerOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Adam: L2 penalty added to the gradient; AdamW: decoupled decay of the weights. */
  weightDecay?: number;
  amsgrad?: boolean;
}

export class Adam extends Optimizer {
  readonly className: string = 'Adam';
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly amsgrad: boolean;
  protected readonly decoupled: boolean = false;
  /** weightDecay when none is given (AdamW overrides it). */
  static readonly defaultWeightDecay: number = 0;
  // The options-only form is last: the Keras factories (`optimizers.Adam({…})`) take its signature.
  constructor(params: readonly Variable[], options?: AdamOptions);
  constructor(options?: AdamOptions);
  constructor(paramsOrOptions?: readonly Variable[] | AdamOptions, maybeOptions?: AdamOptions) {
    super(paramsOrOptions, maybeOptions, 1e-3);
    const options = optionsOf<AdamOptions>(paramsOrOptions, maybeOptions);
    const defaults = { weightDecay: (new.target as typeof Adam).defaultWeightDecay };
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? defaults.weightDecay;
    this.amsgrad = options.amsgrad ?? false;
  }
  slotNames(): string[] {
    return this.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] : ['exp_avg', 'exp_avg_sq'];
  }
  hostScalars(step: number, lr: number): Record<string, number> {
    const bc1 = 1 - this.beta1 ** step;
    const bc2 = 1 - this.beta2 ** step;
    return { stepSize: lr / bc1, bc2Sqrt: Math.sqrt(bc2), decay: 1 - lr * this.weightDecay };
  }
  updateParam(p: Tensor, g: Tensor, [m, v, vmax]: Tensor[], s: Scalars): [Tensor, Tensor[]] {
    let param = p;
    let grad = g;
    if (this.weightDecay) {
      if (this.decoupled) param = mul(p, s.decay);
      else grad = add(g, mul(p, this.weightDecay));
    }
    const m2 = add(mul(m, this.beta1), mul(grad, 1 - this.beta1));
    const v2 = add(mul(v, this.beta2), mul(mul(grad, grad), 1 - this.beta2));
    const slots = [m2, v2];
    let second = v2;
    if (this.amsgrad) {
      second = maximum(vmax, v2);
      slots.push(second);
    }
    const denom = add(div(sqrt(second), s.bc2Sqrt), this.epsilon);
    return [sub(param, mul(div(m2, denom), s.stepSize)), slots];
  }
  override kernelUpdate(s: Record<string, number>): KernelUpdate | undefined {
    if (this.amsgrad) return undefined;
    const decoupled = this.decoupled && this.weightDecay !== 0;
    return {
      kind: 'adam',
      args: [
        this.beta1,
        1 - this.beta1,
        this.beta2,
        1 - this.beta2,
        s.bc2Sqrt,
        this.epsilon,
        s.stepSize,
        decoupled ? s.decay : 1,
        decoupled ? 0 : this.weightDecay,
      ],
    };
  }
  protected hyperparameters() {
    return {
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      weightDecay: this.weightDecay,
      amsgrad: this.amsgrad,
    };
  }
}

/** Adam with decoupled weight decay (PyTorch AdamW: the weights shrink by lr·weightDecay each step). */
export class AdamW extends Adam {
  override readonly className = 'AdamW';
  protected override readonly decoupled = true;
  static override readonly defaultWeightDecay: number = 1e-2;
}

export interface RMSpropOptions extends OptimizerOptions {
  alpha?: number;
  epsilon?: number;
  momentum?: number;
  centered?: boolean;
  weightDecay?: number;
}

export class RMSprop extends Optimizer {
  readonly className = 'RMSprop';
  readonly alpha: number;
  readonly epsilon: number;
  readonly momentum: number;
  readonly centered: boolean;
  readonly weightDecay: number;
  // The options-only form is last: the Keras factories (`optimizers.Adam({…})`) take its signature.
  constructor(params: readonly Variable[], options?: RMSpropOptions);
  constructor(options?: RMSpropOptions);
  constructor(paramsOrOptions?: readonly Variable[] | RMSpropOptions, maybeOptions?: RMSpropOptions) {
    super(paramsOrOptions, maybeOptions, 1e-2);
    const options = optionsOf<RMSpropOptions>(paramsOrOptions, maybeOptions);
    this.alpha = options.alpha ?? 0.99;
    this.epsilon = options.epsilon ?? 1e-8;
    this.momentum = options.momentum ?? 0;
    this.centered = options.centered ?? false;
    this.weightDecay = options.weightDecay ?? 0;
  }
  slotNames(): string[] {
    return ['square_avg', ...(this.momentum ? ['momentum_buffer'] : []), ...(this.centered ? ['grad_avg'] : [])];
  }
  hostScalars(_step: number, lr: number): Record<string, number> {
    return { lr };
  }
  updateParam(p: Tensor, g: Tensor, slots: Tensor[], s: Scalars): [Tensor, Tensor[]] {
    const grad = this.weightDecay ? add(g, mul(p, this.weightDecay)) : g;
    let k = 0;
    const sq = add(mul(slots[k++], this.alpha), mul(mul(grad, grad), 1 - this.alpha));
    const buf = this.momentum ? slots[k++] : undefined;
    const ga = this.centered ? slots[k++] : undefined;
    const out: Tensor[] = [sq];
    let avg: Tensor;
    let ga2: Tensor | undefined;
    if (ga) {
      ga2 = add(mul(ga, this.alpha), mul(grad, 1 - this.alpha));
      avg = sqrt(sub(sq, mul(ga2, ga2)));
    } else {
      avg = sqrt(sq);
    }
    avg = add(avg, this.epsilon);
    let newParam: Tensor;
    if (buf) {
      const buf2 = add(mul(buf, this.momentum), div(grad, avg));
      out.push(buf2);
      newParam = sub(p, mul(buf2, s.lr));
    } else {
      newParam = sub(p, mul(div(grad, avg), s.lr));
    }
    if (ga2) out.push(ga2);
    return [newParam, out];
  }
  protected hyperparameters() {
    return {
      alpha: this.alpha,
      epsilon: this.epsilon,
      momentum: this.momentum,
      centered: this.centered,
      weightDecay: this.weightDecay,
    };
  }
}

export interface AdagradOptions extends OptimizerOptions {
  lrDecay?: number;
  weightDecay?: number;
  initialAccumulatorValue?: number;
  epsilon?: number;
}

export class Adagrad extends Optimizer {
  readonly className = 'Adagrad';
  readonly lrDecay: number;
  readonly weightDecay: number;
  readonly initialAccumulatorValue: number;
  readonly epsilon: number;
  // The options-only form is last: the Keras factories (`optimizers.Adam({…})`) take its signature.
  constructor(params: readonly Variable[], options?: AdagradOptions);
  constructor(options?: AdagradOptions);
  constructor(paramsOrOptions?: readonly Variable[] | AdagradOptions, maybeOptions?: AdagradOptions) {
    super(paramsOrOptions, maybeOptions, 1e-2);
    const options = optionsOf<AdagradOptions>(paramsOrOptions, maybeOptions);
    this.lrDecay = options.lrDecay ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.initialAccumulatorValue = options.initialAccumulatorValue ?? 0;
    this.epsilon = options.epsilon ?? 1e-10;
  }
  slotNames(): string[] {
    return ['sum'];
  }
  override initialSlots(param: Tensor): Tensor[] {
    return [full(param.shape as number[], this.initialAccumulatorValue, param.dtype)];
  }
  hostScalars(step: number, lr: number): Record<string, number> {
    return { clr: lr / (1 + (step - 1) * this.lrDecay) };
  }
  updateParam(p: Tensor, g: Tensor, [acc]: Tensor[], s: Scalars): [Tensor, Tensor[]] {
    const grad = this.weightDecay ? add(g, mul(p, this.weightDecay)) : g;
    const acc2 = add(acc, mul(grad, grad));
    const std = add(sqrt(acc2), this.epsilon);
    return [sub(p, mul(div(grad, std), s.clr)), [acc2]];
  }
  protected hyperparameters() {
    return {
      lrDecay: this.lrDecay,
      weightDecay: this.weightDecay,
      initialAccumulatorValue: this.initialAccumulatorValue,
      epsilon: this.epsilon,
    };
  }
}

export const sgd = (o?: SGDOptions): SGD => new SGD(o);
export const adam = (o?: AdamOptions): Adam => new Adam(o);
export const adamw = (o?: AdamOptions): AdamW => new AdamW(o);
export const rmsprop = (o?: RMSpropOptions): RMSprop => new RMSprop(o);
export const adagrad = (o?: AdagradOptions): Adagrad => new Adagrad(o);

export type OptimizerSpec = string | Optimizer | { className: string; config?: Record<string, unknown> };

/** An optimizer from a name ('adam'), an instance, or a saved {className, config}. */
export function getOptimizer(spec: OptimizerSpec): Optimizer {
  if (spec instanceof Optimizer) return spec;
  const [name, config] = typeof spec === 'string' ? [spec, {}] : [spec.className, spec.config ?? {}];
  const opts = { ...config } as Record<string, any>;
  if (opts.learningRate !== undefined) opts.learningRate = learningRateFromConfig(opts.learningRate);
  switch (nameKey(name)) {
    case 'sgd':
      return new SGD(opts);
    case 'adam':
      return new Adam(opts);
    case 'adamw':
      return new AdamW(opts);
    case 'rmsprop':
      return new RMSprop(opts);
    case 'adagrad':
      return new Adagrad(opts);
    default:
      throw new Error(
        `unknown optimizer '${name}' (known: sgd, adam, adamw, rmsprop, adagrad; or an Optimizer instance)`,
      );
  }
}
