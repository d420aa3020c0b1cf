/**
 * A saved model folder as the platform sees it: `model.onnx` (the inference graph) plus
 * `config.json` (name, signature, labels, preprocessing). Only those two files are needed to serve;
 * when config.json is missing, the signature is read from the ONNX graph itself.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

export type SignatureDType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool' | 'uint8' | 'string';

export interface TensorSignature {
  name: string;
  /** null marks a dynamic dimension (axis 0 is the batch). */
  shape: (number | null)[];
  dtype: SignatureDType;
}

export interface ModelSignature {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
}

/** Image preprocessing is defined by the one image module (data/image.ts). */
export type { ImagePreprocessing } from '../data/image.js';
import type { ImagePreprocessing } from '../data/image.js';

export interface ModelConfig {
  format: 'lepton-model';
  version: number;
  name: string;
  architecture?: unknown;
  signature: ModelSignature;
  labels?: string[];
  preprocessing?: ImagePreprocessing | { kind: string; [k: string]: unknown };
  [key: string]: unknown;
}

export interface ModelFolder {
  dir: string;
  onnxPath: string;
  config: ModelConfig;
  /** True when config.json was absent and the signature came from the ONNX graph. */
  derived: boolean;
}

export class ModelFolderError extends Error {}

/** Reads a model folder; derives the signature from model.onnx when config.json is absent. */
export async function readModelFolder(dir: string): Promise<ModelFolder> {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory())
    throw new ModelFolderError(`model folder '${dir}' does not exist or is not a directory`);
  const onnxPath = join(abs, 'model.onnx');
  if (!existsSync(onnxPath))
    throw new ModelFolderError(`model folder '${dir}' has no model.onnx (expected a folder written by saveModel)`);
  const configPath = join(abs, 'config.json');
  if (existsSync(configPath)) {
    let config: ModelConfig;
    try {
      config = JSON.parse(readFileSync(configPath, 'utf8')) as ModelConfig;
    } catch (e) {
      throw new ModelFolderError(`model folder '${dir}': config.json is not valid JSON (${(e as Error).message})`);
    }
    if (!config.signature) config.signature = await signatureFromOnnx(onnxPath);
    validateSignature(config.signature, `${dir}/config.json`);
    return { dir: abs, onnxPath, config: { ...config, name: config.name || basename(abs) }, derived: false };
  }
  const signature = await signatureFromOnnx(onnxPath);
  return {
    dir: abs,
    onnxPath,
    config: { format: 'lepton-model', version: 1, name: basename(abs), signature },
    derived: true,
  };
}

function validateSignature(sig: ModelSignature, where: string): void {
  for (const key of ['inputs', 'outputs'] as const) {
    if (!Array.isArray(sig[key]) || sig[key].length === 0)
      throw new ModelFolderError(`${where}: signature.${key} must be a non-empty array`);
    for (const t of sig[key]) {
      if (typeof t.name !== 'string' || !Array.isArray(t.shape) || typeof t.dtype !== 'string')
        throw new ModelFolderError(
          `${where}: signature.${key} entries need {name, shape, dtype}, got ${JSON.stringify(t)}`,
        );
    }
  }
}

/** The model's inputs and outputs as ONNX Runtime reports them (symbolic dims become null). */
export async function signatureFromOnnx(onnxPath: string): Promise<ModelSignature> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(onnxPath);
  try {
    const conv = (m: {
      name: string;
      isTensor: boolean;
      type?: string;
      shape?: readonly (number | string)[];
    }): TensorSignature => ({
      name: m.name,
      shape: (m.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : null)),
      dtype: (m.isTensor ? m.type : 'float32') as SignatureDType,
    });
    return {
      inputs: session.inputMetadata.map((m) => conv(m as never)),
      outputs: session.outputMetadata.map((m) => conv(m as never)),
    };
  } finally {
    await session.release();
  }
}

/** Formats a signature shape for messages: `[batch, 28, 28, 1]`. */
export function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.map((d, i) => (d === null ? (i === 0 ? 'batch' : '?') : String(d))).join(', ')}]`;
}
