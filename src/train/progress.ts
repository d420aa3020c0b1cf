/**
 * Console progress (Keras' verbose semantics), on stderr. fit: verbose 1 draws a bar per epoch
 * (only on a TTY; otherwise it behaves like verbose 2), verbose 2 prints one line per epoch.
 * evaluate/predict: verbose 1 draws a bar, and both 1 and 2 end with one summary line
 * ("313/313 - 1.2s - 4ms/step - loss: 0.3440 - accuracy: 0.8768").
 */
import { BaseCallback, type Logs } from './callbacks.js';

function formatLogs(logs: Logs): string {
  return Object.entries(logs)
    .map(([k, v]) => `${k}: ${Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(3)}`)
    .join(' - ');
}

/** A duration for people: 4.2s, 37s, 3m05s, 1h02m ('?' when unknown). */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const whole = Math.round(s); // rounded first, so 119.6 s is 2m00s rather than 1m60s
  const m = Math.floor(whole / 60);
  return m < 60
    ? `${m}m${String(whole % 60).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export class ProgressLogger extends BaseCallback {
  private epochStart = 0;
  private lastDraw = 0;
  private seen = 0;
  private readonly stream = process.stderr;

  constructor(private readonly verbose: number) {
    super();
  }

  private get bar(): boolean {
    return this.verbose === 1 && !!this.stream.isTTY;
  }

  onEpochBegin(epoch: number): void {
    this.epochStart = performance.now();
    this.seen = 0;
    if (this.bar) this.stream.write(`Epoch ${epoch + 1}/${this.params?.epochs}\n`);
  }

  onBatchEnd(batch: number, logs: Logs): void {
    this.seen = batch + 1;
    if (!this.bar) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && batch + 1 !== this.params?.steps) return;
    this.lastDraw = now;
    const elapsed = (now - this.epochStart) / 1000;
    const steps = this.params?.steps;
    const width = 30;
    let head: string;
    if (steps) {
      const done = Math.min(width, Math.round((width * (batch + 1)) / steps));
      const eta = (elapsed / (batch + 1)) * (steps - batch - 1);
      head = `${String(batch + 1).padStart(String(steps).length)}/${steps} [${'='.repeat(Math.max(0, done - 1))}${done < width ? '>' : '='}${'.'.repeat(width - done)}] ETA ${formatSeconds(eta)}`;
    } else {
      head = `${batch + 1} batches ${formatSeconds(elapsed)}`;
    }
    const cols = this.stream.columns ?? 120;
    const { batch: _b, size: _s, ...shown } = logs;
    this.stream.write(`\r${`${head} - ${formatLogs(shown)}`.slice(0, cols - 1)}\x1b[K`);
  }

  onEpochEnd(epoch: number, logs: Logs): void {
    if (this.verbose === 0) return;
    const elapsed = (performance.now() - this.epochStart) / 1000;
    const perStep = this.seen ? (elapsed * 1000) / this.seen : 0;
    const line = `${formatSeconds(elapsed)} ${perStep.toFixed(0)}ms/step - ${formatLogs(logs)}`;
    if (this.bar)
      this.stream.write(`\r${this.params?.steps ? `${this.params.steps}/${this.params.steps} ` : ''}${line}\x1b[K\n`);
    else this.stream.write(`Epoch ${epoch + 1}/${this.params?.epochs} - ${line}\n`);
  }
}

/** Progress of one pass over data for evaluate/predict (a bar on a TTY with verbose 1, then one line). */
export class InferenceProgress {
  private readonly start = performance.now();
  private lastDraw = 0;
  private seen = 0;
  private readonly stream = process.stderr;

  constructor(
    private readonly verbose: number,
    private readonly steps?: number,
  ) {}

  private get bar(): boolean {
    return this.verbose === 1 && !!this.stream.isTTY;
  }

  batch(step: number, logs: Logs): void {
    this.seen = step + 1;
    if (!this.bar) return;
    const now = performance.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 30;
    const done = this.steps ? Math.min(width, Math.round((width * this.seen) / this.steps)) : 0;
    const head = this.steps
      ? `${this.seen}/${this.steps} [${'='.repeat(Math.max(0, done - 1))}${done < width ? '>' : '='}${'.'.repeat(width - done)}]`
      : `${this.seen} batches`;
    const text = Object.keys(logs).length ? `${head} - ${formatLogs(logs)}` : head;
    this.stream.write(`\r${text.slice(0, (this.stream.columns ?? 120) - 1)}\x1b[K`);
  }

  end(logs: Logs): void {
    if (this.verbose === 0) return;
    const elapsed = (performance.now() - this.start) / 1000;
    const perStep = this.seen ? (elapsed * 1000) / this.seen : 0;
    const parts = [`${this.seen}/${this.steps ?? this.seen}`, formatSeconds(elapsed), `${perStep.toFixed(0)}ms/step`];
    if (Object.keys(logs).length) parts.push(formatLogs(logs));
    this.stream.write(`${this.bar ? '\r' : ''}${parts.join(' - ')}${this.bar ? '\x1b[K' : ''}\n`);
  }
}
