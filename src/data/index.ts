/** Lepton's data layer: datasets, loaders for real data sources, image transforms. */
// Installs ONNX Runtime as the executor of ops on concrete tensors (engine/index.ts is the composition root).
import '../engine/index.js';
export { withClassNames, classNamesOf } from './labels.js';
export { Dataset, type Batched, type BatchOptions, type MapOptions, type ShuffleOptions } from './dataset.js';
/** Image transforms as a namespace (`transforms.randomCrop(x, [32, 32], { padding: 4 })`): their
 *  short names (resize, normalize, flip…) would collide with tensor ops at the package root. */
export * as transforms from './transforms.js';
export { decodeImage, type DecodeOptions } from './transforms.js';
/** The one image preprocessing (decode, resize, crop, normalize, layout) shared with serving and the CLI. */
export {
  decodePixels,
  imageInputShape,
  imagePixels,
  imagePreprocessing,
  pixelsToInput,
  preprocessImages,
  preprocessPixelBatch,
  type DecodePixelOptions,
  type ImagePreprocessing,
  type Pixels,
  type PreprocessOptions,
} from './image.js';
export {
  dataHome,
  downloadFile,
  locate,
  DataNotFoundError,
  type DataSpec,
  type LocateOptions,
  type ProgressCallback,
  type RemoteFile,
} from './loaders/locate.js';
export { parseIdx, readIdx, idxToTensor, type IdxArray, type IdxData, type IdxType } from './loaders/idx.js';
export { parseTar, readTar, type TarEntry } from './loaders/tar.js';
export {
  mnist,
  fashionMnist,
  type IdxImageDataset,
  type ImageDataSplits,
  type ImageLoadOptions,
  type Split,
} from './loaders/mnist.js';
export {
  cifar10,
  cifar100,
  parseCifarRecords,
  type CifarData,
  type CifarLoadOptions,
  type Cifar100LoadOptions,
} from './loaders/cifar.js';
export { parseCsv, readCsv, csvToTensors, type CsvColumnType, type CsvData, type CsvOptions } from './loaders/csv.js';
export {
  imageFolder,
  type ImageFile,
  type ImageFolderDataset,
  type ImageFolderOptions,
} from './loaders/image-folder.js';
export {
  iris,
  wine,
  breastCancer,
  sklearnDigits,
  type DigitsData,
  type SklearnLoadOptions,
  type TabularData,
} from './loaders/sklearn.js';

import { cifar10 as cifar10Loader, cifar100 as cifar100Loader } from './loaders/cifar.js';
import { fashionMnist as fashionMnistLoader, mnist as mnistLoader } from './loaders/mnist.js';
import {
  breastCancer as breastCancerLoader,
  iris as irisLoader,
  sklearnDigits as digitsLoader,
  wine as wineLoader,
} from './loaders/sklearn.js';

/** Every bundled loader in one place, Keras-style: `await datasets.cifar10.loadData()`. */
export const datasets = {
  mnist: mnistLoader,
  fashionMnist: fashionMnistLoader,
  cifar10: cifar10Loader,
  cifar100: cifar100Loader,
  iris: irisLoader,
  digits: digitsLoader,
  wine: wineLoader,
  breastCancer: breastCancerLoader,
} as const;
