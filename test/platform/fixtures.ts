/** Small model folders for platform tests, built with the engine (toOnnx) and a hand-written config.json. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toOnnx } from '../../src/engine/compile.js';
import { Variable, tensor, type Tensor } from '../../src/engine/tensor.js';
import { add, matmul, reshape } from '../../src/engine/ops/core.js';

/** W (4×3) and b (3) of the tabular fixture: logits = x·W + b. */
export const TABULAR_W = [
  [1, 0, -1],
  [0.5, 2, 0],
  [0, -1, 3],
  [-2, 0.25, 1],
];
export const TABULAR_B = [0.1, -0.2, 0.3];

/** logits = x·W + b with plain loops (the independent reference). */
export function tabularReference(x: number[][], w = TABULAR_W, b = TABULAR_B): number[][] {
  return x.map((row) => b.map((bj, j) => row.reduce((acc, xi, i) => acc + xi * w[i][j], bj)));
}

export async function makeTabularModel(
  dir: string,
  options: { labels?: string[]; config?: boolean; w?: number[][]; b?: number[]; name?: string } = {},
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const w = new Variable(tensor(options.w ?? TABULAR_W), { name: 'dense.kernel' });
  const b = new Variable(tensor(options.b ?? TABULAR_B), { name: 'dense.bias' });
  await toOnnx((x: Tensor) => add(matmul(x, w), b), [{ shape: ['batch', 4], name: 'features' }], {
    path: join(dir, 'model.onnx'),
    outputNames: ['logits'],
  });
  if (options.config !== false) {
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        format: 'lepton-model',
        version: 1,
        name: options.name ?? 'tabular',
        architecture: { kind: 'dense', units: 3 },
        signature: {
          inputs: [{ name: 'features', shape: [null, 4], dtype: 'float32' }],
          outputs: [{ name: 'logits', shape: [null, 3], dtype: 'float32' }],
        },
        ...(options.labels ? { labels: options.labels } : {}),
      }),
    );
  }
  return dir;
}

/**
 * A 4×4 greyscale image classifier: logits = [0.5 - mean, mean - 0.5] over pixels scaled to 0..1,
 * so a white image is 'bright' and a black one 'dark'.
 */
export async function makeImageModel(dir: string, options: { preprocessing?: boolean } = {}): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const w = new Variable(tensor(Array.from({ length: 16 }, () => [-1 / 16, 1 / 16])));
  const b = new Variable(tensor([0.5, -0.5]));
  await toOnnx(
    (x: Tensor) => add(matmul(reshape(x, ['batch', 16]), w), b),
    [{ shape: ['batch', 4, 4, 1], name: 'image' }],
    {
      path: join(dir, 'model.onnx'),
      outputNames: ['logits'],
    },
  );
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      format: 'lepton-model',
      version: 1,
      name: 'brightness',
      signature: {
        inputs: [{ name: 'image', shape: [null, 4, 4, 1], dtype: 'float32' }],
        outputs: [{ name: 'logits', shape: [null, 2], dtype: 'float32' }],
      },
      labels: ['dark', 'bright'],
      ...(options.preprocessing === false
        ? {}
        : { preprocessing: { kind: 'image', height: 4, width: 4, channels: 1, scale: 1 / 255 } }),
    }),
  );
  return dir;
}

export function softmaxReference(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

/** Two inputs: out = a·[1, 2]ᵀ + b·[1, 1, 1]ᵀ, shape [batch, 1]. */
export async function makeTwoInputModel(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const wa = new Variable(tensor([[1], [2]]));
  const wb = new Variable(tensor([[1], [1], [1]]));
  await toOnnx(
    (a: Tensor, b: Tensor) => add(matmul(a, wa), matmul(b, wb)),
    [
      { shape: ['batch', 2], name: 'a' },
      { shape: ['batch', 3], name: 'b' },
    ],
    {
      path: join(dir, 'model.onnx'),
      outputNames: ['out'],
    },
  );
  return dir;
}

/** A linear 28×28×1 → 10 classifier with fixed pseudo-random weights W[p][j] = sin(p·7 + j·3) / 10. */
export const mnistWeight = (p: number, j: number): number => Math.sin(p * 7 + j * 3) / 10;

export async function makeLinearMnistModel(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const w = new Variable(
    tensor(Array.from({ length: 784 }, (_, p) => Array.from({ length: 10 }, (_, j) => mnistWeight(p, j)))),
  );
  await toOnnx((x: Tensor) => matmul(reshape(x, ['batch', 784]), w), [{ shape: ['batch', 28, 28, 1], name: 'image' }], {
    path: join(dir, 'model.onnx'),
    outputNames: ['logits'],
  });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      format: 'lepton-model',
      version: 1,
      name: 'linear-mnist',
      signature: {
        inputs: [{ name: 'image', shape: [null, 28, 28, 1], dtype: 'float32' }],
        outputs: [{ name: 'logits', shape: [null, 10], dtype: 'float32' }],
      },
      labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
      preprocessing: { kind: 'image', height: 28, width: 28, channels: 1, scale: 1 / 255 },
    }),
  );
  return dir;
}
