/**
 * ModelCheckpoint: saves the model folder at epoch end (Keras semantics). Apart from the other
 * callbacks because it needs save.ts, which needs the training API (compile state on load).
 */
import { BaseCallback, type Logs, type Mode, betterFn, monitored } from './callbacks.js';
import { saveModel } from './save.js';

export interface ModelCheckpointOptions {
  monitor?: string;
  mode?: Mode;
  /** Only save when the monitored value improves. */
  saveBestOnly?: boolean;
  /** Save every this many epochs (default 1). */
  saveFreq?: number;
}

/**
 * Saves the model folder at epoch end. `path` may contain `{epoch}` (1-based) and `{name}` of
 * any log value, e.g. 'ckpt/model-{epoch}-{val_loss}'.
 */
export class ModelCheckpoint extends BaseCallback {
  private best = NaN;
  private readonly better: (c: number, b: number) => boolean;
  readonly monitor: string;
  /** Paths written, in order. */
  readonly saved: string[] = [];

  constructor(
    readonly path: string,
    private readonly options: ModelCheckpointOptions = {},
  ) {
    super();
    this.monitor = options.monitor ?? 'val_loss';
    this.better = betterFn(this.monitor, options.mode ?? 'auto', 0);
  }

  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    if ((epoch + 1) % (this.options.saveFreq ?? 1) !== 0) return;
    if (this.options.saveBestOnly) {
      const v = monitored(this.monitor, logs, 'ModelCheckpoint');
      if (v === undefined || !(Number.isNaN(this.best) || this.better(v, this.best))) return;
      this.best = v;
    }
    const path = this.path.replace(/\{(\w+)(?::[^}]*)?\}/g, (m, key: string) => {
      if (key === 'epoch') return String(epoch + 1);
      return key in logs ? logs[key].toFixed(4) : m;
    });
    if (!this.model) throw new Error('ModelCheckpoint: no model (the callback was not given to fit)');
    await saveModel(this.model as Parameters<typeof saveModel>[0], path);
    this.saved.push(path);
  }
}
