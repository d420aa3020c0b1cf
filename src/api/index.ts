/**
 * Lepton's public entry point (`import … from 'lepton'`): what the README's programs use —
 * tensors and their ops, grad/compile, layers, models and modules, losses, optimizers, metrics,
 * schedules, callbacks, data sets, save/load. Everything here is listed by name so that the
 * surface changes only on purpose (`npm run api` checks it against `api/lepton.api.md`).
 *
 * The rest lives under subpaths: `lepton/data` (loaders, transforms), `lepton/onnx` (ONNX import
 * and export), `lepton/engine` (defining ops, traces, runtime controls), `lepton/serve` (the model
 * server). `src/index.ts` is the internal barrel the tests and tools import; it is not published.
 */

// ---- Tensors, ops, transformations -------------------------------------------------------------
export {
  Tensor, Variable, tensor, scalar, full, zeros, ones, arange, linspace, eye, rand, randn, randint,
  fullLike, zerosLike, onesLike, Generator, setSeed,
  type DType, type Dim, type Shape, type TypedArray, type NestedArray, type TensorLike, type TensorOptions,
  type RandomOptions, type TensorMethods, type TensorOrNumber, type ArrayOptions,
} from '../engine/index.js';
export {
  grad, valueAndGrad, compile, compileSync, toOnnx, stopGradient,
  type GradOptions, type CompileOptions, type TensorSpec, type TracedProgram,
} from '../engine/index.js';
export {
  // arithmetic and element-wise math
  add, sub, mul, div, neg, matmul, pow, maximum, minimum, clip, where, abs, exp, log, sqrt, rsqrt, reciprocal, square,
  erf, sign, floor, ceil, round, sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh,
  // comparisons and logic
  equal, notEqual, less, lessEqual, greater, greaterEqual, logicalAnd, logicalOr, logicalNot,
  // activations
  relu, leakyRelu, elu, selu, sigmoid, tanh, softplus, softsign, hardSigmoid, silu, gelu, softmax, logSoftmax,
  // reductions
  sum, mean, max, min, prod, argmax, argmin, logSumExp, variance, std, moments,
  // shape and indexing
  cast, reshape, transpose, broadcastTo, permute, squeeze, unsqueeze, expand, flatten, slice, flip, pad, tile, split,
  concat, stack, oneHot, gather, gatherElements, scatterAdd, indexAdd, indexSelect, take,
  // neural-network ops
  linear, dropout, embedding, softmaxCrossEntropy, conv1d, conv2d, conv3d, convTranspose1d, convTranspose2d, unfold,
  maxPool1d, maxPool2d, avgPool1d, avgPool2d, globalAvgPool2d, globalMaxPool2d, batchNorm, layerNorm,
  type SliceIndex, type SliceSpec, type PadMode, type PadOptions, type ConvOptions, type ConvTransposeOptions,
  type PoolOptions, type AvgPoolOptions, type GlobalPoolOptions, type Padding, type UnfoldOptions, type HardSigmoidOptions,
  type VarianceOptions, type LayerNormAxes, type SoftmaxCrossEntropyOptions, type DropoutOpOptions, type LossReduction,
} from '../engine/index.js';

// ---- Models: PyTorch-style modules, Keras-style layers and models ------------------------------
export {
  Module, functionalCall, Layer, Model, Sequential, InputLayer, KerasTensor, input, model, sequential,
  layerFromConfig, serializeLayer, registerLayer, setFloatx, floatx, clearSession, addUpdate, collectUpdates,
  initializers, regularizers, torch,
  // layer classes (the `layers` namespace below has a factory for each)
  Activation, Dense, Dropout, Flatten, Permute, Reshape, Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D,
  AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
  MaxPooling1D, MaxPooling2D, UpSampling2D, ZeroPadding2D, Cropping2D, BatchNormalization, LayerNormalization, Normalization,
  Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, Embedding, SimpleRNN, LSTM, GRU, Bidirectional,
  TimeDistributed, MultiHeadAttention, ELU, GaussianNoise, Lambda, LeakyReLU, ReLU, RepeatVector, Rescaling, Softmax,
  SpatialDropout2D,
  type ActivationFn, type ActivationSpec, type AddWeightOptions, type AttentionCallOptions, type BatchNormalizationOptions,
  type CallOptions, type ConvLayerOptions, type ConvOptionsWithGroups, type ConvPadding, type DenseOptions,
  type DepthwiseConv2DOptions, type DropoutOptions, type EmbeddingOptions, type GRUOptions, type GlobalPoolingOptions,
  type Initializer, type InitializerSpec, type InputOptions, type KerasShape, type LSTMOptions, type LayerClass,
  type LayerConfig, type LayerInput, type LayerNormalizationOptions, type LayerOptions, type LoadStateDictOptions,
  type LoadStateDictResult, type MergeMode, type ModelArgs, type ModelInputs, type MultiHeadAttentionOptions,
  type NormalizationOptions, type PoolingOptions, type RecurrentOptions, type Regularizer, type RegularizerSpec,
  type SeparableConv2DOptions, type TensorSpecInfo,
} from '../nn/index.js';

// ---- Training: losses, metrics, optimizers, schedules, callbacks, fit, save/load ---------------
export {
  Loss, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, MeanSquaredError, MeanAbsoluteError,
  Huber, Hinge, KLDivergence, binaryCrossentropy, categoricalCrossentropy, sparseCategoricalCrossentropy,
  meanSquaredError, meanAbsoluteError, huber, hinge, kld, kullbackLeiblerDivergence,
  Metric, MeanMetric, AUC, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
  SparseTopKCategoricalAccuracy, Precision, Recall, F1Score, ConfusionMatrix, MeanAbsoluteErrorMetric,
  MeanSquaredErrorMetric, confusionMatrix,
  Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad, sgd, adam, adamw, rmsprop, adagrad, clipGradNorm, clipGradValue,
  CosineDecay, ExponentialDecay, LinearWarmup, StepDecay, cosineDecay, exponentialDecay, linearWarmup, stepDecay,
  BaseCallback, CSVLogger, EarlyStopping, History, JSONLLogger, LambdaCallback, LearningRateScheduler, ModelCheckpoint,
  ReduceLROnPlateau, ProgressLogger,
  compileModel, fit, evaluate, predict, saveModel, loadModel, exportOnnx, readModelConfig,
  loadSafetensors, saveSafetensors, encodeSafetensors, decodeSafetensors,
  type AdagradOptions, type AdamOptions, type Callback, type CallbackModel, type CrossentropyOptions,
  type EarlyStoppingOptions, type EvaluateOptions, type FitOptions, type LRSchedule, type LearningRate, type LoadOptions,
  type Logs, type LossFn, type LossOptions, type LossSpec, type MetricFn, type MetricSpec, type ModelCheckpointOptions,
  type ModelCompileOptions, type OptimizerOptions, type OptimizerSpec, type PredictOptions, type RMSpropOptions,
  type ReduceLROnPlateauOptions, type Reduction, type SGDOptions, type SafetensorsContent, type SaveOptions,
  type SavedConfig, type ThresholdOptions, type TrainableModel, type CompileState,
  type EvaluateResult, type Prediction, type ExportOptions, type Verbosity, type ModelTrainingApi,
} from '../train/index.js';

// ---- Errors users branch on (instanceof or .code) --------------------------------------------------
export { LeptonError, ShapeError, DtypeError, UnsupportedOnnxError, ModelNotFoundError, BadRequestError, type LeptonErrorCode } from '../engine/errors.js';

// ---- Data -----------------------------------------------------------------------------------------
export { Dataset, datasets, transforms, DataNotFoundError, type BatchOptions, type Batched, type ImageDataSplits, type ImageLoadOptions } from '../data/index.js';

// ---- Keras-style factories: layers.Dense(…), losses.…, optimizers.… ------------------------------
export { layers, losses, optimizers } from '../keras.js';
