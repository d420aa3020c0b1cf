/** Prometheus metrics in the text exposition format (version 0.0.4), written by hand. */

type Labels = Record<string, string>;

const labelKey = (labels: Labels): string =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k].replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');

const fmt = (v: number): string => (Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN');

export class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${fmt(v)}`);
    return lines.join('\n');
  }
}

export class Gauge {
  private readonly values = new Map<string, () => number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  /** Reads the value at scrape time. */
  track(labels: Labels, read: () => number): void {
    this.values.set(labelKey(labels), read);
  }
  untrack(labels: Labels): void {
    this.values.delete(labelKey(labels));
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const [k, read] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${fmt(read())}`);
    return lines.join('\n');
  }
}

export class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  observe(labels: Labels, value: number): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }
  count(labels: Labels = {}): number {
    return this.series.get(labelKey(labels))?.count ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : '';
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{${sep}le="${fmt(b)}"} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ''} ${fmt(s.sum)}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class ServerMetrics {
  readonly requests = new Counter('lepton_requests_total', 'Prediction requests by model and HTTP status code.');
  readonly latency = new Histogram(
    'lepton_request_duration_seconds',
    'Prediction request latency in seconds, from arrival to response.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  readonly batchSize = new Histogram(
    'lepton_batch_size',
    'Rows per batch sent to ONNX Runtime.',
    [1, 2, 4, 8, 16, 32, 64, 128, 256],
  );
  readonly inferenceSeconds = new Histogram(
    'lepton_inference_duration_seconds',
    'Time one batch spends in ONNX Runtime (including worker messaging).',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  );
  readonly queueLength = new Gauge('lepton_queue_length', 'Rows waiting for a batch slot, by model.');
  readonly modelsLoaded = new Gauge('lepton_models_loaded', 'Model versions currently loaded.');
  readonly streamsActive = new Gauge('lepton_streams_active', 'Speech WebSocket streams currently open.');
  readonly streams = new Counter(
    'lepton_streams_total',
    'Speech WebSocket streams by model and close code (1000 = ended normally).',
  );

  render(): string {
    return (
      [
        this.requests,
        this.latency,
        this.batchSize,
        this.inferenceSeconds,
        this.queueLength,
        this.modelsLoaded,
        this.streamsActive,
        this.streams,
      ]
        .map((m) => m.render())
        .join('\n') + '\n'
    );
  }
}
