/**
 * Learning-rate schedules: functions of the optimizer step (0 = the first update). The learning
 * rate is fed to the train-step graph as an input at every step, so schedules cost nothing and
 * never force a recompile. Schedules compose (linearWarmup wraps another schedule).
 */
export interface LRSchedule {
  readonly className: string;
  /** Learning rate for the update with this 0-based step index. */
  at(step: number): number;
  getConfig(): Record<string, unknown>;
}

export type LearningRate = number | LRSchedule;

export function learningRateAt(lr: LearningRate, step: number): number {
  return typeof lr === 'number' ? lr : lr.at(step);
}

/** initial · gamma^floor(step / stepSize) (PyTorch StepLR, counted in steps). */
export class StepDecay implements LRSchedule {
  readonly className = 'StepDecay';
  constructor(readonly options: { initial: number; stepSize: number; gamma?: number }) {
    if (!(options.stepSize > 0)) throw new Error(`StepDecay: stepSize must be positive, got ${options.stepSize}`);
  }
  at(step: number): number {
    return this.options.initial * (this.options.gamma ?? 0.1) ** Math.floor(step / this.options.stepSize);
  }
  getConfig() {
    return { ...this.options };
  }
}

/** initial · rate^(step / decaySteps), floored exponent with staircase (Keras ExponentialDecay). */
export class ExponentialDecay implements LRSchedule {
  readonly className = 'ExponentialDecay';
  constructor(readonly options: { initial: number; decaySteps: number; decayRate: number; staircase?: boolean }) {
    if (!(options.decaySteps > 0))
      throw new Error(`ExponentialDecay: decaySteps must be positive, got ${options.decaySteps}`);
  }
  at(step: number): number {
    const p = step / this.options.decaySteps;
    return this.options.initial * this.options.decayRate ** (this.options.staircase ? Math.floor(p) : p);
  }
  getConfig() {
    return { ...this.options };
  }
}

/** Cosine annealing from initial to minimum over decaySteps, then flat (PyTorch CosineAnnealingLR closed form). */
export class CosineDecay implements LRSchedule {
  readonly className = 'CosineDecay';
  constructor(readonly options: { initial: number; decaySteps: number; minimum?: number }) {
    if (!(options.decaySteps > 0))
      throw new Error(`CosineDecay: decaySteps must be positive, got ${options.decaySteps}`);
  }
  at(step: number): number {
    const { initial, decaySteps, minimum = 0 } = this.options;
    const t = Math.min(step, decaySteps);
    return minimum + ((initial - minimum) * (1 + Math.cos((Math.PI * t) / decaySteps))) / 2;
  }
  getConfig() {
    return { ...this.options };
  }
}

/**
 * Linear warmup over `warmupSteps` from startFactor·target to the target, then `after` (a
 * schedule, started at its step 0, or a constant).
 */
export class LinearWarmup implements LRSchedule {
  readonly className = 'LinearWarmup';
  constructor(readonly options: { warmupSteps: number; after: LearningRate; startFactor?: number }) {
    if (!(options.warmupSteps >= 0))
      throw new Error(`LinearWarmup: warmupSteps must be >= 0, got ${options.warmupSteps}`);
  }
  at(step: number): number {
    const { warmupSteps, after, startFactor = 0 } = this.options;
    if (step >= warmupSteps) return learningRateAt(after, step - warmupSteps);
    const target = learningRateAt(after, 0);
    return target * (startFactor + ((1 - startFactor) * (step + 1)) / (warmupSteps + 1));
  }
  getConfig() {
    const { after, ...rest } = this.options;
    return { ...rest, after: typeof after === 'number' ? after : serializeSchedule(after) };
  }
}

export function stepDecay(o: StepDecay['options']): StepDecay {
  return new StepDecay(o);
}
export function exponentialDecay(o: ExponentialDecay['options']): ExponentialDecay {
  return new ExponentialDecay(o);
}
export function cosineDecay(o: CosineDecay['options']): CosineDecay {
  return new CosineDecay(o);
}
export function linearWarmup(o: LinearWarmup['options']): LinearWarmup {
  return new LinearWarmup(o);
}

export function serializeSchedule(s: LRSchedule): { className: string; config: Record<string, unknown> } {
  return { className: s.className, config: s.getConfig() };
}

export function learningRateToConfig(lr: LearningRate): unknown {
  return typeof lr === 'number' ? lr : serializeSchedule(lr);
}

export function learningRateFromConfig(c: unknown): LearningRate {
  if (typeof c === 'number') return c;
  const { className, config } = c as { className: string; config: Record<string, any> };
  switch (className) {
    case 'StepDecay':
      return new StepDecay(config as StepDecay['options']);
    case 'ExponentialDecay':
      return new ExponentialDecay(config as ExponentialDecay['options']);
    case 'CosineDecay':
      return new CosineDecay(config as CosineDecay['options']);
    case 'LinearWarmup':
      return new LinearWarmup({ ...(config as LinearWarmup['options']), after: learningRateFromConfig(config.after) });
    default:
      throw new Error(`unknown learning-rate schedule '${className}'`);
  }
}
