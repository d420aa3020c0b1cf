/** Resolving a `<model>` argument: a model folder path, or a registered name (`name` or `name@version`). */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isValidModelName, openRegistry } from '../registry/registry.js';
import { CliError } from './output.js';

export interface ModelRef {
  dir: string;
  name?: string;
  version?: number;
  registered: boolean;
  /** The run that produced a registered model. */
  runId?: number;
}

/** `name` or `name@version` split into its parts. */
export function splitModelRef(ref: string): [string, number | undefined] {
  const m = /^(.+?)(?:@(\d+))?$/.exec(ref)!;
  return [m[1], m[2] === undefined ? undefined : Number(m[2])];
}

export function resolveModelRef(ref: string): ModelRef {
  const asPath = resolve(ref);
  if (existsSync(asPath) && statSync(asPath).isDirectory()) {
    if (!existsSync(resolve(asPath, 'model.onnx')))
      throw new CliError(`'${ref}' is a folder but has no model.onnx (expected a folder written by saveModel)`);
    return { dir: asPath, registered: false };
  }
  const [name, version] = splitModelRef(ref);
  if (!isValidModelName(name)) throw new CliError(`'${ref}' is neither a model folder nor a registered model name`);
  const registry = openRegistry();
  const record = registry.findModel(name, version);
  if (!record) {
    if (version !== undefined && registry.findModel(name))
      throw new CliError(`model '${name}' has no version ${version} (${registry.versionsText(name)})`);
    const names = registry.listModelNames();
    throw new CliError(
      `'${ref}' is neither a model folder nor a registered model (registered: ${names.length ? names.join(', ') : 'none'}; registry: ${registry.home})`,
    );
  }
  return {
    dir: record.path,
    name: record.name,
    version: record.version,
    registered: true,
    runId: record.runId ?? undefined,
  };
}

/**
 * The data set a model was trained on, when known: config.json's `dataset`, else the `dataset`
 * parameter of the registered run that produced it.
 */
export function trainingDataset(ref: ModelRef): string | undefined {
  try {
    const config = JSON.parse(readFileSync(join(ref.dir, 'config.json'), 'utf8')) as { dataset?: unknown };
    if (typeof config.dataset === 'string') return config.dataset;
  } catch {
    // no or unreadable config.json: fall back to the run
  }
  if (ref.runId === undefined) return undefined;
  try {
    const dataset = openRegistry().getRun(ref.runId).params.dataset;
    return typeof dataset === 'string' ? dataset : undefined;
  } catch {
    return undefined;
  }
}
