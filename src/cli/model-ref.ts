/** Resolving a `<model>` argument: a model folder path, or a registered name (`name` or `name@version`). */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { isValidModelName, openRegistry } from '../registry/registry.js';
import { CliError } from './output.js';

export interface ModelRef {
  dir: string;
  name?: string;
  version?: number;
  registered: boolean;
}

/** `name` or `name@version` split into its parts. */
export function splitModelRef(ref: string): [string, number | undefined] {
  const m = /^(.+?)(?:@(\d+))?$/.exec(ref)!;
  return [m[1], m[2] === undefined ? undefined : Number(m[2])];
}

export function resolveModelRef(ref: string): ModelRef {
  const asPath = resolve(ref);
  if (existsSync(asPath) && statSync(asPath).isDirectory()) {
    if (!existsSync(resolve(asPath, 'model.onnx'))) throw new CliError(`'${ref}' is a folder but has no model.onnx (expected a folder written by saveModel)`);
    return { dir: asPath, registered: false };
  }
  const [name, version] = splitModelRef(ref);
  if (!isValidModelName(name)) throw new CliError(`'${ref}' is neither a model folder nor a registered model name`);
  const registry = openRegistry();
  const record = registry.findModel(name, version);
  if (!record) {
    const names = registry.listModelNames();
    throw new CliError(
      `'${ref}' is neither a model folder nor a registered model (registered: ${names.length ? names.join(', ') : 'none'}; registry: ${registry.home})`,
    );
  }
  return { dir: record.path, name: record.name, version: record.version, registered: true };
}
