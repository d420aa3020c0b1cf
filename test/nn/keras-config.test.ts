/** Keras/TF.js config-object form of the layer factories, TF.js lowercase names, and option-key checks. */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { type Layer, type Tensor, layers, sequential, tensor } from '../../src/index.js';

describe('layer factories take a single config object (TF.js / Keras config style)', () => {
  it('layers.dense({ units, activation, inputShape }) builds the same layer as layers.Dense(units, options)', () => {
    const a = layers.dense({ units: 8, activation: 'relu', inputShape: [4] });
    const b = layers.Dense(8, { activation: 'relu', inputShape: [4] });
    expect(a.units).toBe(8);
    const { name: _a, ...ca } = a.getConfig();
    const { name: _b, ...cb } = b.getConfig();
    expect(ca).toEqual(cb);
    const m = sequential([a]);
    expect(m.weights.map((w) => w.shape)).toEqual([[4, 8], [8]]);
    // relu: negative pre-activations come out as 0
    a.kernel.assign(tensor(Array.from({ length: 4 }, () => Array(8).fill(-1))));
    expect((m.apply(tensor([[1, 1, 1, 1]])) as Tensor).toArray()).toEqual([Array(8).fill(0)]);
  });

  it('covers layers with two positional arguments and with defaults', () => {
    const conv = layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', inputShape: [6, 6, 1] });
    sequential([conv]);
    expect(conv.kernel.shape).toEqual([3, 3, 1, 4]);
    expect(layers.embedding({ inputDim: 10, outputDim: 3 }).getConfig()).toMatchObject({ inputDim: 10, outputDim: 3 });
    expect(layers.maxPooling2d({ poolSize: 3, strides: 1 }).getConfig()).toMatchObject({
      poolSize: [3, 3],
      strides: [1, 1],
    });
    expect(layers.rescaling({ scale: 0.5 }).getConfig()).toMatchObject({ scale: 0.5, offset: 0 });
    expect(layers.lstm({ units: 5, returnSequences: true }).getConfig()).toMatchObject({
      units: 5,
      returnSequences: true,
    });
    expect(layers.bidirectional({ layer: layers.gru({ units: 2 }) }).getConfig().layer.className).toBe('GRU');
  });

  it('has the TF.js lowercase names', () => {
    for (const name of [
      'dense',
      'conv1d',
      'conv2d',
      'conv2dTranspose',
      'maxPooling2d',
      'averagePooling2d',
      'globalAveragePooling2d',
      'flatten',
      'dropout',
      'batchNormalization',
      'layerNormalization',
      'embedding',
      'lstm',
      'gru',
      'simpleRNN',
      'bidirectional',
      'activation',
      'reshape',
      'concatenate',
      'add',
      'zeroPadding2d',
      'upSampling2d',
      'multiHeadAttention',
    ]) {
      expect(typeof (layers as unknown as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});

describe('unknown option keys are errors with a suggestion', () => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      'config form, misspelt positional',
      () => layers.Dense({ unit: 8 } as never),
      /layers\.Dense: unknown option 'unit' — did you mean 'units'\?/,
    ],
    [
      'config form, snake_case',
      () => layers.dense({ units: 8, input_shape: [3] } as never),
      /unknown option 'input_shape' — did you mean 'inputShape'\?/,
    ],
    [
      'positional form',
      () => layers.Dense(8, { activaton: 'relu' } as never),
      /unknown option 'activaton' — did you mean 'activation'\?/,
    ],
    [
      'options-only layer',
      () => layers.BatchNormalization({ momentun: 0.9 } as never),
      /BatchNormalization: unknown option 'momentun' — did you mean 'momentum'\?/,
    ],
    ['no close key', () => layers.Flatten({ zzzzzz: 1 } as never), /unknown option 'zzzzzz' \(known: .*name/],
  ];
  for (const [label, fn, message] of cases) it(label, () => expect(fn).toThrow(message));
});

describe('every option a layer declares is accepted', () => {
  // The keys come from the TypeScript declarations of each layer's options, so a new option that
  // the layer forgets to put in getConfig (and so would call an unknown key) fails here.
  it('for each layer factory, the keys of its options type pass the check', () => {
    const file = fileURLToPath(new URL('../../src/nn/index.ts', import.meta.url));
    const program = ts.createProgram([file], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      skipLibCheck: true,
      types: [],
    });
    const checker = program.getTypeChecker();
    const required: Record<string, unknown[]> = {
      Dense: [2],
      Activation: ['relu'],
      Reshape: [[2]],
      Permute: [[1]],
      Dropout: [0.1],
      Conv1D: [2, 3],
      Conv2D: [2, 3],
      Conv2DTranspose: [2, 3],
      SeparableConv2D: [2, 3],
      DepthwiseConv2D: [3],
      Embedding: [3, 2],
      SimpleRNN: [2],
      LSTM: [2],
      GRU: [2],
      MultiHeadAttention: [2, 2],
      Rescaling: [1, 0],
      RepeatVector: [2],
      SpatialDropout2D: [0.1],
      GaussianNoise: [0.1],
      Lambda: [(x: unknown) => x],
      MaxPooling1D: [2],
      MaxPooling2D: [2],
      AveragePooling1D: [2],
      AveragePooling2D: [2],
      UpSampling2D: [2],
      ZeroPadding2D: [1],
      Cropping2D: [1],
      Bidirectional: [layers.LSTM(2)],
      TimeDistributed: [layers.Dense(2)],
    };
    const skip = new Set(['InputLayer', 'Model', 'Sequential', 'Layer']);
    let checked = 0;
    for (const exported of checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(file)!)!)) {
      const factory = (layers as unknown as Record<string, (...a: unknown[]) => Layer>)[exported.name];
      if (!factory || skip.has(exported.name)) continue;
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const signatures = checker.getTypeOfSymbol(symbol).getConstructSignatures();
      if (signatures.length === 0) continue; // a function (model, input…), not a layer class
      const params = signatures[signatures.length - 1].getParameters();
      const optionsType = checker.getNonNullableType(
        checker.getTypeOfSymbolAtLocation(params[params.length - 1], params[params.length - 1].valueDeclaration!),
      );
      // Values do not matter for the key check except where a constructor validates them.
      const options = Object.fromEntries(checker.getPropertiesOfType(optionsType).map((p) => [p.name, undefined]));
      expect(() => factory(...(required[exported.name] ?? []), options), exported.name).not.toThrow(/unknown option/);
      checked++;
    }
    expect(checked).toBeGreaterThan(40);
  });
});
