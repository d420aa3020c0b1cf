/**
 * The embedded registry: runs (hyper-parameters, per-epoch metrics, status, errors) and models
 * (versions, signatures, metrics, producing run) in SQLite under LEPTON_HOME (default ~/.lepton).
 * WAL mode + a busy timeout let a training process and the studio write at the same time.
 */
import { ModelNotFoundError } from '../engine/errors.js';
import { cpSync, existsSync, mkdirSync, rmSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { EvaluationRecord, EvaluationReport } from './evaluation.js';
import { type ModelSignature, readModelFolder } from './model-folder.js';

/** The registry folder: `$LEPTON_HOME`, else `~/.lepton`. */
export function leptonHome(): string {
  const fromEnv = process.env.LEPTON_HOME;
  return fromEnv && fromEnv.length > 0 ? resolve(fromEnv) : join(homedir(), '.lepton');
}

export type RunStatus = 'running' | 'completed' | 'failed' | 'stopped';

export interface RunRecord {
  id: number;
  name: string;
  status: RunStatus;
  params: Record<string, unknown>;
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number | null;
  error: string | null;
  /** The latest batch-level progress reported while an epoch runs (for live views). */
  progress: Record<string, unknown> | null;
  /** Final (last epoch) metrics. */
  summary: Record<string, number>;
}

export interface EpochRecord {
  epoch: number;
  metrics: Record<string, number>;
  at: string;
}

/** Training metrics at one step (a mean over the batches since the previous record). */
export interface StepRecord {
  /** Global step, counted from 1. */
  step: number;
  /** Fractional epoch at the end of this step: 0.5 = halfway through the first epoch. */
  epoch: number;
  metrics: Record<string, number>;
}

export interface ModelRecord {
  name: string;
  version: number;
  path: string;
  signature: ModelSignature;
  metrics: Record<string, number>;
  runId: number | null;
  createdAt: string;
  labels: string[] | null;
  description: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  params TEXT NOT NULL DEFAULT '{}',
  started_at TEXT NOT NULL,
  ended_at TEXT,
  duration_seconds REAL,
  error TEXT,
  progress TEXT,
  summary TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS run_epochs (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  epoch INTEGER NOT NULL,
  metrics TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS run_steps (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  epoch REAL NOT NULL,
  metrics TEXT NOT NULL,
  PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS models (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  path TEXT NOT NULL,
  signature TEXT NOT NULL,
  metrics TEXT NOT NULL DEFAULT '{}',
  run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL,
  labels TEXT,
  description TEXT,
  PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS evaluations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model_name TEXT,
  model_version INTEGER,
  run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  dataset TEXT NOT NULL,
  created_at TEXT NOT NULL,
  report TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_model ON evaluations (model_name, model_version);
CREATE INDEX IF NOT EXISTS evaluations_run ON evaluations (run_id);
`;

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Whether `name` can name a registered model: letters, digits, '.', '_' or '-', starting with a letter or digit, up to 128. */
export function isValidModelName(name: string): boolean {
  return MODEL_NAME.test(name);
}

export class RegistryError extends Error {}

interface RunRow {
  id: number;
  name: string;
  status: RunStatus;
  params: string;
  started_at: string;
  ended_at: string | null;
  duration_seconds: number | null;
  error: string | null;
  progress: string | null;
  summary: string;
}

interface ModelRow {
  name: string;
  version: number;
  path: string;
  signature: string;
  metrics: string;
  run_id: number | null;
  created_at: string;
  labels: string | null;
  description: string | null;
}

export interface RegisterOptions {
  name?: string;
  runId?: number | null;
  metrics?: Record<string, number>;
  description?: string;
}

export interface RecordEvaluationOptions {
  /** The registered model evaluated (its version's evaluations show on its studio page). */
  model?: string;
  version?: number;
  /** The run that produced the model (its evaluations show on the run's page). */
  runId?: number | null;
  /** What the model was evaluated on (a data set name or file). */
  dataset: string;
}

/** Which evaluations to list: all filters given must match. */
export interface EvaluationFilter {
  model?: string;
  version?: number;
  runId?: number;
  /** At most this many, newest first (all by default). */
  limit?: number;
}

interface EvaluationRow {
  id: number;
  model_name: string | null;
  model_version: number | null;
  run_id: number | null;
  dataset: string;
  created_at: string;
  report: string;
}

export class Registry {
  readonly db: Database.Database;
  readonly home: string;

  constructor(home: string = leptonHome()) {
    this.home = resolve(home);
    mkdirSync(join(this.home, 'models'), { recursive: true });
    this.db = new Database(join(this.home, 'registry.db'), { timeout: 15_000 });
    this.db.pragma('busy_timeout = 15000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    // Schema creation takes a write lock: IMMEDIATE so two processes opening at once queue cleanly.
    this.db.transaction(() => this.db.exec(SCHEMA)).immediate();
  }

  close(): void {
    this.db.close();
  }

  // ---- runs ----

  createRun(name: string, params: Record<string, unknown> = {}): number {
    const r = this.db
      .prepare('INSERT INTO runs (name, status, params, started_at) VALUES (?, ?, ?, ?)')
      .run(name, 'running', JSON.stringify(params), new Date().toISOString());
    return Number(r.lastInsertRowid);
  }

  logEpoch(runId: number, epoch: number, metrics: Record<string, number>): void {
    const clean = finiteMetrics(metrics);
    this.db
      .transaction(() => {
        this.db
          .prepare('INSERT OR REPLACE INTO run_epochs (run_id, epoch, metrics, at) VALUES (?, ?, ?, ?)')
          .run(runId, epoch, JSON.stringify(clean), new Date().toISOString());
        this.db.prepare('UPDATE runs SET summary = ?, progress = NULL WHERE id = ?').run(JSON.stringify(clean), runId);
      })
      .immediate();
  }

  /** Per-step training metrics (for step-level curves); `epoch` is the fractional epoch (1 = end of the first). */
  logSteps(runId: number, steps: StepRecord[]): void {
    if (!steps.length) return;
    const insert = this.db.prepare(
      'INSERT OR REPLACE INTO run_steps (run_id, step, epoch, metrics) VALUES (?, ?, ?, ?)',
    );
    this.db
      .transaction(() => {
        for (const s of steps) insert.run(runId, s.step, s.epoch, JSON.stringify(finiteMetrics(s.metrics)));
      })
      .immediate();
  }

  steps(runId: number, afterStep = 0): StepRecord[] {
    const rows = this.db
      .prepare('SELECT step, epoch, metrics FROM run_steps WHERE run_id = ? AND step > ? ORDER BY step')
      .all(runId, afterStep) as { step: number; epoch: number; metrics: string }[];
    return rows.map((r) => ({ step: r.step, epoch: r.epoch, metrics: JSON.parse(r.metrics) }));
  }

  logProgress(runId: number, progress: Record<string, unknown>): void {
    this.db.prepare('UPDATE runs SET progress = ? WHERE id = ?').run(JSON.stringify(progress), runId);
  }

  updateParams(runId: number, params: Record<string, unknown>): void {
    const run = this.getRun(runId);
    this.db.prepare('UPDATE runs SET params = ? WHERE id = ?').run(JSON.stringify({ ...run.params, ...params }), runId);
  }

  finishRun(runId: number, status: Exclude<RunStatus, 'running'>, error?: string): void {
    const run = this.getRun(runId);
    const ended = new Date();
    const duration = (ended.getTime() - Date.parse(run.startedAt)) / 1000;
    this.db
      .prepare(
        'UPDATE runs SET status = ?, ended_at = ?, duration_seconds = ?, error = ?, progress = NULL WHERE id = ?',
      )
      .run(status, ended.toISOString(), duration, error ?? null, runId);
  }

  getRun(runId: number): RunRecord {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(runId) as RunRow | undefined;
    if (!row) throw new RegistryError(`no run with id ${runId} in ${this.home}`);
    return runFromRow(row);
  }

  listRuns(limit = 1000): RunRecord[] {
    return (this.db.prepare('SELECT * FROM runs ORDER BY id DESC LIMIT ?').all(limit) as RunRow[]).map(runFromRow);
  }

  epochs(runId: number, afterEpoch = -Infinity): EpochRecord[] {
    const rows = this.db
      .prepare('SELECT epoch, metrics, at FROM run_epochs WHERE run_id = ? AND epoch > ? ORDER BY epoch')
      .all(runId, Number.isFinite(afterEpoch) ? afterEpoch : -1e9) as { epoch: number; metrics: string; at: string }[];
    return rows.map((r) => ({ epoch: r.epoch, metrics: JSON.parse(r.metrics), at: r.at }));
  }

  deleteRun(runId: number): void {
    this.db.prepare('DELETE FROM runs WHERE id = ?').run(runId);
  }

  // ---- models ----

  /**
   * Copies a model folder into LEPTON_HOME/models/<name>/<version> and records it. The version is
   * the next integer for that name; the copy is written under a temporary name and renamed, so a
   * reader never sees a half-copied version.
   */
  async registerModel(sourceDir: string, options: RegisterOptions = {}): Promise<ModelRecord> {
    const folder = await readModelFolder(sourceDir);
    const name = options.name ?? folder.config.name;
    if (!MODEL_NAME.test(name))
      throw new RegistryError(
        `invalid model name '${name}': use letters, digits, '.', '_' or '-' (up to 128 characters)`,
      );
    if (options.runId != null) this.getRun(options.runId);
    const modelsDir = join(this.home, 'models', name);
    mkdirSync(modelsDir, { recursive: true });
    const tmp = join(modelsDir, `.tmp-${process.pid}-${Date.now()}`);
    cpSync(folder.dir, tmp, { recursive: true });
    try {
      return this.db
        .transaction(() => {
          const row = this.db.prepare('SELECT MAX(version) AS v FROM models WHERE name = ?').get(name) as {
            v: number | null;
          };
          const version = (row.v ?? 0) + 1;
          const dest = join(modelsDir, String(version));
          if (existsSync(dest)) rmSync(dest, { recursive: true, force: true });
          renameSync(tmp, dest);
          const created = new Date().toISOString();
          this.db
            .prepare(
              'INSERT INTO models (name, version, path, signature, metrics, run_id, created_at, labels, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
            )
            .run(
              name,
              version,
              dest,
              JSON.stringify(folder.config.signature),
              JSON.stringify(finiteMetrics(options.metrics ?? {})),
              options.runId ?? null,
              created,
              folder.config.labels ? JSON.stringify(folder.config.labels) : null,
              options.description ?? null,
            );
          return this.getModel(name, version);
        })
        .immediate();
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** A model version (default: the latest). */
  getModel(name: string, version?: number): ModelRecord {
    const row = (
      version === undefined
        ? this.db.prepare('SELECT * FROM models WHERE name = ? ORDER BY version DESC LIMIT 1').get(name)
        : this.db.prepare('SELECT * FROM models WHERE name = ? AND version = ?').get(name, version)
    ) as ModelRow | undefined;
    if (!row) {
      const known = this.listModelNames();
      throw new ModelNotFoundError(
        version === undefined || !known.includes(name)
          ? `no registered model '${name}' (registered: ${known.length ? known.join(', ') : 'none'})`
          : `model '${name}' has no version ${version} (${this.versionsText(name)})`,
      );
    }
    return modelFromRow(row);
  }

  /** "latest is 3: versions 1, 2, 3" or "no versions registered", for messages. */
  versionsText(name: string): string {
    const versions = (
      this.db.prepare('SELECT version FROM models WHERE name = ? ORDER BY version').all(name) as { version: number }[]
    ).map((r) => r.version);
    return versions.length
      ? `latest is ${versions[versions.length - 1]}${versions.length > 1 ? `; versions ${versions.join(', ')}` : ''}`
      : 'none registered';
  }

  findModel(name: string, version?: number): ModelRecord | undefined {
    try {
      return this.getModel(name, version);
    } catch (e) {
      if (e instanceof ModelNotFoundError) return undefined;
      throw e;
    }
  }

  listModels(): ModelRecord[] {
    return (this.db.prepare('SELECT * FROM models ORDER BY name, version').all() as ModelRow[]).map(modelFromRow);
  }

  listModelNames(): string[] {
    return (this.db.prepare('SELECT DISTINCT name FROM models ORDER BY name').all() as { name: string }[]).map(
      (r) => r.name,
    );
  }

  /** Removes one version, or all versions when version is omitted; deletes the copied folders. */
  removeModel(name: string, version?: number): number {
    const records =
      version === undefined ? this.listModels().filter((m) => m.name === name) : [this.getModel(name, version)];
    if (records.length === 0) throw new ModelNotFoundError(`no registered model '${name}'`);
    this.db
      .transaction(() => {
        for (const m of records) {
          this.db.prepare('DELETE FROM models WHERE name = ? AND version = ?').run(m.name, m.version);
          this.db.prepare('DELETE FROM evaluations WHERE model_name = ? AND model_version = ?').run(m.name, m.version);
        }
      })
      .immediate();
    for (const m of records) rmSync(m.path, { recursive: true, force: true });
    return records.length;
  }

  // ---- evaluations ----

  /** Records an evaluation report (confusion matrix, per-class scores, PR curves); returns its id. */
  recordEvaluation(report: EvaluationReport, options: RecordEvaluationOptions): number {
    if (options.model !== undefined) this.getModel(options.model, options.version);
    if (options.runId != null) this.getRun(options.runId);
    const r = this.db
      .prepare(
        'INSERT INTO evaluations (model_name, model_version, run_id, dataset, created_at, report) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(
        options.model ?? null,
        options.model === undefined ? null : (options.version ?? this.getModel(options.model).version),
        options.runId ?? null,
        options.dataset,
        new Date().toISOString(),
        JSON.stringify(report),
      );
    return Number(r.lastInsertRowid);
  }

  /** Recorded evaluations, newest first. */
  evaluations(filter: EvaluationFilter = {}): EvaluationRecord[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const match = (column: string, value: string | number | undefined) => {
      if (value === undefined) return;
      where.push(`${column} = ?`);
      args.push(value);
    };
    match('model_name', filter.model);
    match('model_version', filter.version);
    match('run_id', filter.runId);
    if (filter.limit !== undefined) args.push(filter.limit);
    const rows = this.db
      .prepare(
        `SELECT * FROM evaluations${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC${filter.limit !== undefined ? ' LIMIT ?' : ''}`,
      )
      .all(...args) as EvaluationRow[];
    return rows.map((r) => ({
      id: r.id,
      model: r.model_name,
      version: r.model_version,
      runId: r.run_id,
      dataset: r.dataset,
      createdAt: r.created_at,
      report: JSON.parse(r.report),
    }));
  }
}

/** Keeps numeric metrics only (NaN/Infinity are stored as JSON null, which readers show as missing). */
export function finiteMetrics(metrics: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(metrics)) {
    if (typeof v === 'number') out[k] = v;
    else if (typeof v === 'bigint') out[k] = Number(v);
  }
  return out;
}

function runFromRow(r: RunRow): RunRecord {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    params: JSON.parse(r.params),
    startedAt: r.started_at,
    endedAt: r.ended_at,
    durationSeconds: r.duration_seconds,
    error: r.error,
    progress: r.progress ? JSON.parse(r.progress) : null,
    summary: JSON.parse(r.summary),
  };
}

function modelFromRow(r: ModelRow): ModelRecord {
  return {
    name: r.name,
    version: r.version,
    path: r.path,
    signature: JSON.parse(r.signature),
    metrics: JSON.parse(r.metrics),
    runId: r.run_id,
    createdAt: r.created_at,
    labels: r.labels ? JSON.parse(r.labels) : null,
    description: r.description,
  };
}

let shared: Registry | undefined;
/** One registry per process for LEPTON_HOME (reopened if LEPTON_HOME changes). */
export function openRegistry(home: string = leptonHome()): Registry {
  if (!shared || shared.home !== resolve(home) || !shared.db.open) shared = new Registry(home);
  return shared;
}
