/**
 * A user's strict TypeScript program against the built package (see package.test.ts): it must
 * compile with no errors, and every `@ts-expect-error` line must stay an error.
 */
import {
  Adam,
  Dense,
  type DType,
  Module,
  type Tensor,
  Variable,
  datasets,
  layers,
  losses,
  optimizers,
  sequential,
  tensor,
  torch,
  zeros,
} from 'lepton';
import { Dataset, readCsv } from 'lepton/data';
import { importOnnx, toOnnx } from 'lepton/onnx';
import { defineOp, setWorkerCount } from 'lepton/engine';
import { createModelServer } from 'lepton/serve';

// Chained methods are typed: each returns a Tensor.
const x = tensor([
  [1, 2],
  [3, 4],
]);
const chained: Tensor = x.add(1).relu().sum(-1).mul(x.mean()).reshape([2, 1]).transpose();
const dt: DType = chained.dtype;
// @ts-expect-error a method's result is a Tensor, not a string
const s: string = x.add(1);
// @ts-expect-error unknown method
x.addd(1);
// @ts-expect-error TF.js's slice(begin, size) is not this signature
x.slice([0, 0], [3, 2]);
// @ts-expect-error reshape takes the shape as one array
x.reshape(2, 2);
const parts: Tensor[] = x.split(2, 0);
const idx = x.argmax(-1);
const asNumbers = idx.toArray({ bigint: false });
const v = new Variable(zeros([2]));
const fromVariable: Tensor = v.add(1);

// Layers: positional and config-object forms, TF.js names; unknown keys do not compile.
const d1: Dense = layers.Dense(8, { activation: 'relu' });
const d2: Dense = layers.Dense({ units: 8, activation: 'relu', inputShape: [4] });
const d3: Dense = layers.dense({ units: 8 });
const conv = layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' });
// @ts-expect-error units is required
layers.dense({ activation: 'relu' });
// @ts-expect-error misspelt option
layers.Dense(8, { activaton: 'relu' });
// @ts-expect-error units is a number
layers.Dense({ units: '8' });
const model = sequential([d2, layers.Dense(2)]);

// Optimizers: Keras style for compile, PyTorch style for step(grads).
const keras = optimizers.Adam({ learningRate: 1e-3 });
const torchStyle = new Adam(model.parameters(), { lr: 1e-3 });
torchStyle.zeroGrad();
torchStyle.step(model.parameters().map((p) => zeros(p.shape as number[])));
// @ts-expect-error lr is a number
new Adam(model.parameters(), { lr: 'fast' });
const lossObj = losses.SparseCategoricalCrossentropy({ fromLogits: true });

// torch modules: all constructed with new.
const net = new torch.Sequential(new torch.Linear(2, 4), new torch.ReLU(), new torch.Linear(4, 1));
const isModule: Module = net;

// Internals are not part of the root.
// @ts-expect-error op definitions are internal
import { absOp } from 'lepton';
// @ts-expect-error workers are internal
import { OrtWorker } from 'lepton';
// @ts-expect-error graph programs are internal
import { GraphProgram } from 'lepton';

export const used = [
  chained,
  dt,
  s,
  parts,
  asNumbers,
  fromVariable,
  d1,
  d3,
  conv,
  model,
  keras,
  lossObj,
  isModule,
  datasets,
  Dataset,
  readCsv,
  importOnnx,
  toOnnx,
  defineOp,
  setWorkerCount,
  createModelServer,
  absOp,
  OrtWorker,
  GraphProgram,
];
