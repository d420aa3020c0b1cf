/**
 * Callbacks (Keras semantics). Every hook is optional and may be async (fit awaits it). Logs are
 * plain numbers: loss and metrics (running means within an epoch), and val_* at epoch end.
 * Model weights are synchronised from the training worker before onEpochEnd, so callbacks that
 * read or save weights there (EarlyStopping, ModelCheckpoint in checkpoint.ts) see the current values.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Tensor } from '../engine/tensor.js';
import type { Optimizer } from './optimizers.js';

export type Logs = Record<string, number>;

export interface TrainingParams {
  epochs: number;
  /** Batches per epoch, when known. */
  steps?: number;
  verbose: number;
  initialEpoch: number;
}

/** What callbacks can reach: the model's weights and training switches. */
export interface CallbackModel {
  name?: string;
  /** Set to true to stop after the current epoch. */
  stopTraining?: boolean;
  namedVariables(): [string, { value(): Tensor; assign(v: Tensor): unknown }][];
  compileState?: unknown;
}

export interface Callback {
  setModel?(model: CallbackModel): void;
  setParams?(params: TrainingParams): void;
  onTrainBegin?(logs: Logs): void | Promise<void>;
  onEpochBegin?(epoch: number, logs: Logs): void | Promise<void>;
  onBatchBegin?(batch: number, logs: Logs): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs): void | Promise<void>;
  onTrainEnd?(logs: Logs): void | Promise<void>;
  /** fit threw (the loss became NaN, a callback failed, ...); onTrainEnd is not called then. */
  onTrainError?(error: unknown): void | Promise<void>;
}

/** What a default-callback factory learns about the fit it is made for. */
export interface DefaultCallbackParams {
  epochs: number;
  batchSize: number;
}

// Kept on globalThis: a process may load Lepton twice (e.g. the CLI's preload from dist/ and a
// script importing the sources), and both copies must see the same list.
const DEFAULTS_KEY = Symbol.for('lepton.defaultCallbacks');
type DefaultFactory = (params: DefaultCallbackParams) => Callback | undefined;
function defaultFactories(): DefaultFactory[] {
  const g = globalThis as { [DEFAULTS_KEY]?: DefaultFactory[] };
  return (g[DEFAULTS_KEY] ??= []);
}

/**
 * Adds a callback to every later fit in this process (made fresh for each fit by `factory`),
 * e.g. the run tracker `lepton train` installs. Returns a function that removes it again.
 */
export function addDefaultCallback(factory: DefaultFactory): () => void {
  defaultFactories().push(factory);
  return () => {
    const list = defaultFactories();
    const i = list.indexOf(factory);
    if (i >= 0) list.splice(i, 1);
  };
}

/** The default callbacks for one fit. */
export function defaultCallbacks(params: DefaultCallbackParams): Callback[] {
  return defaultFactories()
    .map((f) => f(params))
    .filter((c): c is Callback => c !== undefined);
}

/** A base class keeping the model and params (subclass it, or write plain objects). */
export class BaseCallback implements Callback {
  model?: CallbackModel;
  params?: TrainingParams;
  setModel(model: CallbackModel): void {
    this.model = model;
  }
  setParams(params: TrainingParams): void {
    this.params = params;
  }
}

type Hook =
  | 'onTrainBegin'
  | 'onEpochBegin'
  | 'onBatchBegin'
  | 'onBatchEnd'
  | 'onEpochEnd'
  | 'onTrainEnd'
  | 'onTrainError';

export class CallbackList {
  constructor(readonly callbacks: Callback[]) {}
  setModel(m: CallbackModel): void {
    for (const c of this.callbacks) c.setModel?.(m);
  }
  setParams(p: TrainingParams): void {
    for (const c of this.callbacks) c.setParams?.(p);
  }
  async call(hook: Hook, ...args: any[]): Promise<void> {
    for (const c of this.callbacks) {
      const fn = c[hook] as ((...a: any[]) => void | Promise<void>) | undefined;
      if (fn) await fn.apply(c, args);
    }
  }
}

/** Records epoch logs: `history.history.loss[i]`, `history.epoch`. Returned by fit. */
export class History extends BaseCallback {
  readonly history: Record<string, number[]> = {};
  readonly epoch: number[] = [];
  onEpochEnd(epoch: number, logs: Logs): void {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v);
  }
}

/** Calls the given functions at the matching hooks. */
export class LambdaCallback extends BaseCallback {
  constructor(hooks: Omit<Callback, 'setModel' | 'setParams'>) {
    super();
    Object.assign(this, hooks);
  }
}

export type Mode = 'min' | 'max' | 'auto';

/** Whether a monitored value improved: higher is better for accuracy-like names (mode 'auto'). */
export function betterFn(monitor: string, mode: Mode, minDelta: number): (current: number, best: number) => boolean {
  const max = mode === 'max' || (mode === 'auto' && /acc|auc|precision|recall|f1/.test(monitor));
  const delta = Math.abs(minDelta);
  return max ? (c, b) => c - delta > b : (c, b) => c + delta < b;
}

/** The monitored value from the logs, with a warning when the logs lack it. */
export function monitored(monitor: string, logs: Logs, who: string): number | undefined {
  const v = logs[monitor];
  if (v === undefined) {
    process.emitWarning(`${who}: metric '${monitor}' is not in the logs (available: ${Object.keys(logs).join(', ')})`);
  }
  return v;
}

export interface EarlyStoppingOptions {
  monitor?: string;
  minDelta?: number;
  patience?: number;
  mode?: Mode;
  /** Value the monitored quantity must beat, else training stops after `patience` epochs. */
  baseline?: number;
  /** Put back the weights of the best epoch when training ends. */
  restoreBestWeights?: boolean;
  /** Epochs to wait before starting to monitor. */
  startFromEpoch?: number;
}

/** Stops training when the monitored value has not improved for `patience` epochs. */
export class EarlyStopping extends BaseCallback {
  readonly monitor: string;
  readonly patience: number;
  private readonly better: (c: number, b: number) => boolean;
  private best = NaN;
  private wait = 0;
  private bestWeights?: Map<string, Tensor>;
  /** The epoch training stopped at (0 if it did not stop early). */
  stoppedEpoch = 0;
  bestEpoch = 0;

  constructor(private readonly options: EarlyStoppingOptions = {}) {
    super();
    this.monitor = options.monitor ?? 'val_loss';
    this.patience = options.patience ?? 0;
    this.better = betterFn(this.monitor, options.mode ?? 'auto', options.minDelta ?? 0);
  }

  onTrainBegin(): void {
    this.wait = 0;
    this.stoppedEpoch = 0;
    this.best = this.options.baseline ?? NaN;
    this.bestWeights = undefined;
  }

  onEpochEnd(epoch: number, logs: Logs): void {
    const v = monitored(this.monitor, logs, 'EarlyStopping');
    if (v === undefined || epoch < (this.options.startFromEpoch ?? 0)) return;
    if (Number.isNaN(this.best) || this.better(v, this.best)) {
      this.best = v;
      this.bestEpoch = epoch;
      this.wait = 0;
      if (this.options.restoreBestWeights && this.model) {
        this.bestWeights = new Map(this.model.namedVariables().map(([k, w]) => [k, w.value()]));
      }
      return;
    }
    this.wait++;
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      if (this.model) this.model.stopTraining = true;
    }
  }

  onTrainEnd(): void {
    if (this.bestWeights && this.model) {
      for (const [k, w] of this.model.namedVariables()) {
        const best = this.bestWeights.get(k);
        if (best) w.assign(best);
      }
    }
  }
}

/** Sets the learning rate at each epoch start: schedule(epoch, currentLr) → new lr. */
export class LearningRateScheduler extends BaseCallback {
  constructor(private readonly schedule: (epoch: number, lr: number) => number) {
    super();
  }
  onEpochBegin(epoch: number): void {
    const opt = optimizerOf(this.model, 'LearningRateScheduler');
    const lr = this.schedule(epoch, opt.currentLearningRate());
    if (!Number.isFinite(lr)) throw new Error(`LearningRateScheduler: the schedule returned ${lr} for epoch ${epoch}`);
    opt.learningRate = lr;
  }
  onEpochEnd(_epoch: number, logs: Logs): void {
    logs.lr = optimizerOf(this.model, 'LearningRateScheduler').currentLearningRate();
  }
}

function optimizerOf(model: CallbackModel | undefined, who: string): Optimizer {
  const opt = (model?.compileState as { optimizer?: Optimizer } | undefined)?.optimizer;
  if (!opt) throw new Error(`${who}: the model is not compiled`);
  return opt;
}

export interface ReduceLROnPlateauOptions {
  monitor?: string;
  factor?: number;
  patience?: number;
  mode?: Mode;
  minDelta?: number;
  cooldown?: number;
  minLr?: number;
}

/** Multiplies the learning rate by `factor` when the monitored value stops improving. */
export class ReduceLROnPlateau extends BaseCallback {
  private best = NaN;
  private wait = 0;
  private cooldownLeft = 0;
  private readonly better: (c: number, b: number) => boolean;
  readonly monitor: string;
  constructor(private readonly options: ReduceLROnPlateauOptions = {}) {
    super();
    this.monitor = options.monitor ?? 'val_loss';
    if ((options.factor ?? 0.1) >= 1) throw new Error('ReduceLROnPlateau: factor must be < 1');
    this.better = betterFn(this.monitor, options.mode ?? 'auto', options.minDelta ?? 1e-4);
  }
  onTrainBegin(): void {
    this.best = NaN;
    this.wait = 0;
    this.cooldownLeft = 0;
  }
  onEpochEnd(_epoch: number, logs: Logs): void {
    const opt = optimizerOf(this.model, 'ReduceLROnPlateau');
    if (typeof opt.learningRate !== 'number')
      throw new Error(
        'ReduceLROnPlateau: the optimizer uses a learning-rate schedule; use a constant learning rate with this callback',
      );
    logs.lr = opt.learningRate;
    const v = monitored(this.monitor, logs, 'ReduceLROnPlateau');
    if (v === undefined) return;
    if (this.cooldownLeft > 0) {
      this.cooldownLeft--;
      this.wait = 0;
    }
    if (Number.isNaN(this.best) || this.better(v, this.best)) {
      this.best = v;
      this.wait = 0;
    } else if (this.cooldownLeft === 0) {
      this.wait++;
      if (this.wait >= (this.options.patience ?? 10)) {
        const minLr = this.options.minLr ?? 0;
        if (opt.learningRate > minLr)
          opt.learningRate = Math.max(opt.learningRate * (this.options.factor ?? 0.1), minLr);
        this.cooldownLeft = this.options.cooldown ?? 0;
        this.wait = 0;
      }
    }
  }
}

/** Writes one CSV row per epoch (header from the first epoch's keys). */
export class CSVLogger extends BaseCallback {
  private keys?: string[];
  constructor(
    readonly path: string,
    private readonly options: { separator?: string; append?: boolean } = {},
  ) {
    super();
  }
  async onTrainBegin(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    if (!this.options.append) await writeFile(this.path, '');
    this.keys = undefined;
  }
  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    const sep = this.options.separator ?? ',';
    let text = '';
    if (!this.keys) {
      this.keys = Object.keys(logs).sort();
      text += ['epoch', ...this.keys].join(sep) + '\n';
    }
    text += [epoch, ...this.keys.map((k) => logs[k] ?? '')].join(sep) + '\n';
    await appendFile(this.path, text);
  }
}

/** Appends one JSON object per epoch (and optionally per batch) to a .jsonl file. */
export class JSONLLogger extends BaseCallback {
  constructor(
    readonly path: string,
    private readonly options: { batches?: boolean; append?: boolean } = {},
  ) {
    super();
  }
  async onTrainBegin(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    if (!this.options.append) await writeFile(this.path, '');
  }
  async onBatchEnd(batch: number, logs: Logs): Promise<void> {
    if (this.options.batches) await appendFile(this.path, JSON.stringify({ event: 'batch', batch, ...logs }) + '\n');
  }
  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    await appendFile(
      this.path,
      JSON.stringify({ event: 'epoch', epoch, time: new Date().toISOString(), ...logs }) + '\n',
    );
  }
}
